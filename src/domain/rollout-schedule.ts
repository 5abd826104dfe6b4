// When each step of a plan is due: pure arithmetic over the plan, the schedule offset and the time
// the previous step was applied, shared by the workflow (deterministic: no clock here) and its tests.
import type { RolloutPlan } from './rollout-plan.ts';

/**
 * The default minimum dwell is the plan's own gap before a step, but never more than this: a plan
 * with steps a day apart that was held up for a day catches up with steps 5 minutes apart, not a
 * day apart.
 */
export const DEFAULT_MAX_DWELL_MS = 5 * 60_000;

/**
 * The least time between applying step `index - 1` and step `index` (0 for the first step, and for
 * a plan that catches up `immediate`ly): the plan's `minDwellMs`, or else the planned gap before
 * the step, capped at five minutes.
 */
export function minimumDwellMs(plan: RolloutPlan, index: number): number {
  const step = plan.steps[index];
  const previous = plan.steps[index - 1];
  if (!step || !previous || plan.catchUp === 'immediate') return 0;
  if (plan.minDwellMs !== undefined) return plan.minDwellMs;
  return Math.min(Math.max(0, step.targetAt - previous.targetAt), DEFAULT_MAX_DWELL_MS);
}

export interface StepDue {
  /** When the step may be applied: the later of its scheduled time and the end of the dwell. */
  at: number;
  /** Its target time moved by the schedule offset (shift_schedule resumes). */
  scheduledAt: number;
  /** Set when the minimum dwell after the previous step holds it past its scheduled time. */
  dwell: { afterStep: number; dwellMs: number; until: number } | null;
}

/**
 * When step `index` is due, given the schedule offset and when the previous step was applied (null
 * before the first, or when it was not applied by this run). On time, a step is due at its target;
 * after a delay (an outage, a pause resumed with apply_overdue, a stalled step), steps that fell due
 * meanwhile are due one minimum dwell after another instead of all at once.
 */
export function stepDue(plan: RolloutPlan, index: number, offsetMs: number, previousAppliedAt: number | null): StepDue {
  const step = plan.steps[index];
  if (!step) throw new Error(`the plan has no step ${index}`);
  const scheduledAt = step.targetAt + offsetMs;
  const dwellMs = minimumDwellMs(plan, index);
  if (previousAppliedAt === null || dwellMs === 0 || previousAppliedAt + dwellMs <= scheduledAt) return { at: scheduledAt, scheduledAt, dwell: null };
  const until = previousAppliedAt + dwellMs;
  return { at: until, scheduledAt, dwell: { afterStep: index - 1, dwellMs, until } };
}
