// The rollout workflow's public contract: its input, its status, its signals, query and update, and
// the search attributes it keeps current, and the Temporal UI's texts. The API and the activities import these
// (types with `import type`); the names are persisted in histories and typed by people in the
// Temporal UI and CLI, so they never change.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Rollout } from '@flagship/engine';
import { describeCatchUp, describeRollout, formatUtc } from '../domain/rollout-format.ts';
import type { RolloutPlan } from '../domain/rollout-plan.ts';
import type { PauseCause, RolloutState } from '../domain/rollout-state.ts';

export const ROLLOUT_WORKFLOW_TYPE = 'rolloutWorkflow';

export interface RolloutWorkflowInput {
  rolloutId: string;
  flagKey: string;
  plan: RolloutPlan;
  /** The flag's rollout when the plan was accepted (null: none); a rollback restores it. */
  startRollout: Rollout | null;
  startedBy: string;
  reason?: string;
}

export interface PauseInfo {
  cause: PauseCause;
  by: string;
  reason: string | null;
  /** Epoch ms (workflow time) when the pause took effect. */
  at: number;
  details?: Record<string, unknown>;
}

/** When a step was planned, due and applied (epoch ms): what the workflow records of each step. */
export interface StepTimes {
  index: number;
  /** The plan's target time. */
  plannedAt: number;
  /** When it became due: the target moved by the schedule offset, or the end of the minimum dwell. */
  dueAt: number;
  /** When its transaction wrote it (the database's clock). */
  appliedAt: number;
}

export interface RolloutStatus {
  rolloutId: string;
  flagKey: string;
  state: RolloutState;
  /** Index of the last applied step; -1 before the first. */
  currentStep: number;
  /** The share of traffic in the rollout now (a distribution counts as 100). */
  percent: number;
  scheduleOffsetMs: number;
  /** `minimumDwell` is set when the dwell after the previous step holds the next one past its scheduled time. */
  nextStep: { index: number; at: number; plannedAt: number; minimumDwell: { afterStep: number; dwellMs: number } | null } | null;
  pause: PauseInfo | null;
  cancelRequested: boolean;
  /** Every step this run applied (absent in answers of runs that began before it was recorded). */
  steps?: StepTimes[];
}

export interface RolloutResult {
  state: Extract<RolloutState, 'completed' | 'rolled_back'>;
  currentStep: number;
}

/**
 * What `pause` and `resume` take: nothing, or a plain JSON object as the Temporal UI and CLI send it
 * (`{"reason": "error rate"}`). `by` names who asked; the UI cannot set it, so it defaults to
 * "temporal-ui". A bare string is taken as the reason, anything else is ignored.
 */
export type ControlSignalInput = { reason?: string; by?: string } | string | null | undefined;

export interface CancelOptions {
  /** Restore the rollout the flag had when the plan started. */
  rollback?: boolean;
  reason?: string;
  by?: string;
}

export interface ControlUpdateInput {
  action: 'pause' | 'resume';
  reason?: string;
  by: string;
  /** Why a pause happens: a person (`manual`, the default) or an engaged killswitch. */
  cause?: Extract<PauseCause, 'manual' | 'killswitch'>;
}

export const pauseSignal = defineSignal<[ControlSignalInput?]>('pause');
export const resumeSignal = defineSignal<[ControlSignalInput?]>('resume');
export const cancelOptionsSignal = defineSignal<[CancelOptions?]>('cancelOptions');
export const statusQuery = defineQuery<RolloutStatus>('status');
export const controlUpdate = defineUpdate<RolloutStatus, [ControlUpdateInput]>('control');

export const SIGNAL_DESCRIPTIONS = {
  pause: 'Pause the rollout before its next step. Input: nothing, or {"reason": "…", "by": "…"}. Timers stop counting for the plan; see "resume".',
  resume: 'Resume a paused rollout. Input: nothing, or {"reason": "…", "by": "…"}. Steps that fell due while paused are applied at once (onResume: apply_overdue) or the rest of the schedule moves by the paused time (shift_schedule, the default).',
  cancelOptions: 'Optional, sent before a cancellation: {"rollback": true} restores the starting rollout when the workflow is cancelled; {"reason", "by"} are recorded.',
  status: 'The rollout as it stands: state, current step, percentage, next step and its time, pause reason.',
  control: 'Pause or resume and wait until the change is recorded: {"action": "pause"|"resume", "reason"?, "by", "cause"?: "manual"|"killswitch"}. Answers the status.',
} as const;

/**
 * The search attributes the workflow keeps current (registered by `temporal/search-attributes.json`).
 * Plain `SearchAttributeKey` objects: `defineSearchAttributeKey` builds exactly these, but lives in
 * @temporalio/common, which workflow code does not import.
 */
export const FLAG_KEY_ATTRIBUTE = { name: 'FlagKey', type: 'KEYWORD' } as const;
export const ROLLOUT_STATE_ATTRIBUTE = { name: 'RolloutState', type: 'KEYWORD' } as const;
export const ROLLOUT_PERCENT_ATTRIBUTE = { name: 'RolloutPercent', type: 'DOUBLE' } as const;

/** The Temporal UI's static summary of a rollout workflow: `Rollout of new-checkout: no rollout → 10% → 50%`. */
export function rolloutStaticSummary(flagKey: string, plan: RolloutPlan, start: Rollout | null | undefined): string {
  const path = [describeRollout(start ?? null), ...plan.steps.map((step) => describeRollout(step.rollout))].join(' → ');
  return `Rollout of ${flagKey}: ${path}`.slice(0, 400);
}

/** The Temporal UI's static details of a rollout workflow: who, why, every step, how to control it. */
export function rolloutStaticDetails(input: RolloutWorkflowInput): string {
  const lines = input.plan.steps.map((step, index) => {
    const gate = step.gate ? ` · gate: ${step.gate.type} ${step.gate.type === 'prometheus' ? step.gate.query : step.gate.url} (on failure: ${step.gate.onFailure})` : '';
    return `${index + 1}. ${describeRollout(step.rollout)} at ${formatUtc(step.targetAt)}${gate}`;
  });
  return [
    `**Flag** \`${input.flagKey}\` · **started by** ${input.startedBy}${input.reason ? ` · ${input.reason}` : ''}`,
    `**Plan** (on resume: ${input.plan.onResume}; catching up: ${describeCatchUp(input.plan)}${input.plan.bucketBy ? `; bucketBy ${input.plan.bucketBy}` : ''}):`,
    ...lines,
    'Controls: signal `pause` / `resume` (input nothing or `{"reason": "…"}`), Cancel (optionally signal `cancelOptions` `{"rollback": true}` first).',
  ].join('\n');
}
