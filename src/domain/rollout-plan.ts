import { z } from 'zod';
import { type Flag, type Rollout, type ValidationIssue } from '@flagship/engine';
import { validateFlag } from '@flagship/engine/validate';
import { validationError } from '../errors.ts';
import { parseDuration } from './duration.ts';
import { definitionOf } from './definition-of.ts';

/**
 * A check made right before a step is applied. `http`: GET the URL; a non-2xx answer fails; with
 * `jsonPath` (or `min`/`max`) the number read from the body is compared. `prometheus`: an instant
 * query against the server at `url`; its first sample is compared. A number passes when
 * `min <= value <= max` (either bound optional). Probes that cannot be made fail (fail closed).
 */
export type RolloutGate =
  | { type: 'http'; url: string; jsonPath?: string; min?: number; max?: number; timeoutMs?: number; onFailure: GateFailureAction }
  | { type: 'prometheus'; url: string; query: string; min?: number; max?: number; timeoutMs?: number; onFailure: GateFailureAction };

export type GateFailureAction = 'pause' | 'rollback';

/**
 * What resume does with the schedule. `shift_schedule` (the default) moves every step not yet applied
 * by the time spent paused, so the spacing the plan asked for is kept. `apply_overdue` keeps the
 * original times: steps whose time passed while paused are applied at once, in order.
 */
export type ResumePolicy = 'shift_schedule' | 'apply_overdue';

/**
 * What a plan does with steps that fell due while they could not be applied (a worker or Temporal
 * outage, a pause resumed with apply_overdue, a step that stalled): `dwell` (the default) applies
 * them one after another, never two closer together than the minimum dwell, so everyone who should
 * see 40% does before 60%; `immediate` applies them at once.
 */
export type CatchUpPolicy = 'dwell' | 'immediate';

export interface PlannedStep {
  /** The flag's `rollout` after this step; `bucketBy` is the plan's, the same on every step. */
  rollout: Rollout;
  /** Absolute target time, epoch milliseconds (before any shift). */
  targetAt: number;
  /** Checked before the step is applied; absent: no check (always passes). */
  gate?: RolloutGate;
}

export interface RolloutPlan {
  steps: PlannedStep[];
  onResume: ResumePolicy;
  bucketBy?: string;
  /** Absent in plans accepted before it existed: `dwell`. */
  catchUp?: CatchUpPolicy;
  /** The least time between two applied steps; absent: each step's planned gap, at most 5 minutes. */
  minDwellMs?: number;
}

const DAY_MS = 86_400_000;
const MAX_DURATION_MS = 366 * DAY_MS;
/** An absolute step time further in the past than this is a mistake, not an overdue step. */
const MAX_PAST_MS = 5 * 60_000;

const threshold = z.number().refine(Number.isFinite, 'must be a finite number');
const gateUrl = z.url({ protocol: /^https?$/ }).max(2000);
const onFailure = z.enum(['pause', 'rollback']).default('pause').describe('What a failing gate does: pause the rollout (default) or roll it back to its starting rollout.');
const timeoutMs = z.number().int().min(100).max(60_000).optional().describe('Probe timeout, ms (default 5000).');

const gateSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('http'),
      url: gateUrl.describe('GET; a non-2xx answer fails the gate, and redirects are not followed. Private, loopback, link-local and metadata addresses are refused unless the outbound policy allows them (FLAGS_OUTBOUND_ALLOW).'),
      jsonPath: z.string().min(1).max(200).optional().describe('Where the number is in the JSON answer: `$.errors.rate`, `data.items[0].value`.'),
      min: threshold.optional(),
      max: threshold.optional(),
      timeoutMs,
      onFailure,
    }),
    z.strictObject({
      type: z.literal('prometheus'),
      url: gateUrl.describe('The Prometheus server (…/api/v1/query is appended).'),
      query: z.string().min(1).max(2000).describe('An instant query answering one number (vector or scalar); an empty answer fails.'),
      min: threshold.optional(),
      max: threshold.optional(),
      timeoutMs,
      onFailure,
    }),
  ])
  .refine((gate) => gate.min === undefined || gate.max === undefined || gate.min <= gate.max, { message: 'min must not exceed max', path: ['min'] })
  .refine((gate) => gate.type !== 'prometheus' || gate.min !== undefined || gate.max !== undefined, { message: 'a prometheus gate needs min or max', path: ['max'] });

const stepSchema = z
  .strictObject({
    percentage: z.number().min(0).max(100).optional().describe('The share in the rollout after this step (three decimals at most).'),
    distribution: z.array(z.strictObject({ variant: z.string().min(1).max(128), weight: z.number().min(0).max(100) })).min(1).max(50).optional()
      .describe('A multivariate split of everyone who reaches the rollout; weights sum to 100.'),
    at: z.iso.datetime({ offset: true }).optional().describe('Absolute time of the step (ISO 8601 with a zone).'),
    after: z.union([z.number().int().min(0), z.string().min(1).max(40)]).optional()
      .describe('Time after the previous step (or after submission, for the first): "90s", "2h", "1d", "PT30M", or milliseconds.'),
    gate: gateSchema.nullable().optional().describe("Overrides the plan's gate for this step; null: no gate for this step."),
  })
  .superRefine((step, context) => {
    if ((step.percentage === undefined) === (step.distribution === undefined)) context.addIssue({ code: 'custom', message: 'give exactly one of percentage and distribution', path: ['percentage'] });
    if ((step.at === undefined) === (step.after === undefined)) context.addIssue({ code: 'custom', message: 'give exactly one of at and after', path: ['at'] });
    if (step.after !== undefined) {
      const duration = parseDuration(step.after);
      if (duration === null) context.addIssue({ code: 'custom', message: 'is not a duration ("90s", "2h", "1d", "PT30M" or milliseconds)', path: ['after'] });
      else if (duration > MAX_DURATION_MS) context.addIssue({ code: 'custom', message: 'is longer than 366 days', path: ['after'] });
    }
  });

export const planSchema = z
  .strictObject({
    steps: z.array(stepSchema).min(1).max(100),
    gate: gateSchema.optional().describe('Checked before every step (unless a step overrides it).'),
    onResume: z.enum(['shift_schedule', 'apply_overdue']).default('shift_schedule')
      .describe('On resume, move the rest of the schedule by the paused time (shift_schedule, default), or apply steps that fell due meanwhile without waiting for their times (apply_overdue).'),
    catchUp: z.enum(['dwell', 'immediate']).default('dwell')
      .describe('Steps that fell due while they could not be applied (an outage, an apply_overdue resume, a stalled step): one after another, never closer together than minDwell (dwell, default), or all at once (immediate).'),
    minDwell: z.union([z.number().int().min(0), z.string().min(1).max(40)]).optional()
      .describe('The least time between two applied steps: "30s", "5m", "PT1M" or milliseconds. Default: the planned gap before each step, at most 5 minutes.'),
    bucketBy: z.string().min(1).max(128).optional().describe("The attribute the rollout buckets by; defaults to the flag's, and cannot differ from a rollout the flag already has."),
    reason: z.string().max(500).optional(),
  })
  .superRefine((plan, context) => {
    if (plan.minDwell === undefined) return;
    const duration = parseDuration(plan.minDwell);
    if (duration === null) context.addIssue({ code: 'custom', message: 'is not a duration ("30s", "5m", "PT1M" or milliseconds)', path: ['minDwell'] });
    else if (duration > MAX_DURATION_MS) context.addIssue({ code: 'custom', message: 'is longer than 366 days', path: ['minDwell'] });
    if (plan.catchUp === 'immediate') context.addIssue({ code: 'custom', message: 'has no effect with catchUp "immediate": overdue steps are applied at once', path: ['minDwell'] });
  });
export type PlanInput = z.output<typeof planSchema>;

/** Every gate URL of a plan, with where it is, for the outbound policy's check at write time. */
export function gateUrls(plan: PlanInput): { path: string; url: string }[] {
  return [
    ...(plan.gate ? [{ path: 'gate.url', url: plan.gate.url }] : []),
    ...plan.steps.flatMap((step, index) => (step.gate ? [{ path: `steps[${index}].gate.url`, url: step.gate.url }] : [])),
  ];
}

/**
 * The plan a workflow runs, from a request and the flag as it is under the write lock: every step's
 * absolute target time (`after` counts from the previous step's target, the first from `now`),
 * the same `bucketBy` on every step, each step's rollout validated against the flag.
 */
export function normalizePlan(input: PlanInput, flag: Flag, now: number): RolloutPlan {
  const issues: ValidationIssue[] = [];
  const effective = (rollout: Rollout | undefined): string => rollout?.bucketBy ?? 'userId';
  if (flag.rollout && input.bucketBy !== undefined && input.bucketBy !== effective(flag.rollout)) {
    issues.push({ path: 'bucketBy', message: `the flag's rollout buckets by "${effective(flag.rollout)}"; a plan keeps it, so nobody is reshuffled` });
  }
  const bucketBy = input.bucketBy ?? flag.rollout?.bucketBy;
  const steps: PlannedStep[] = [];
  let previous = now;
  input.steps.forEach((step, index) => {
    let targetAt: number;
    if (step.at !== undefined) {
      targetAt = Date.parse(step.at);
      if (index === 0 && targetAt < now - MAX_PAST_MS) issues.push({ path: `steps[${index}].at`, message: 'is more than 5 minutes in the past' });
      if (index > 0 && targetAt < previous) issues.push({ path: `steps[${index}].at`, message: 'is before the previous step' });
    } else {
      targetAt = previous + (parseDuration(step.after ?? 0) ?? 0);
    }
    previous = Math.max(previous, targetAt);
    const base = step.percentage !== undefined ? { percentage: step.percentage } : { distribution: step.distribution ?? [] };
    const rollout = { ...base, ...(bucketBy !== undefined ? { bucketBy } : {}) } as Rollout;
    const checked = validateFlag({ ...definitionOf(flag), rollout });
    if (!checked.ok) {
      for (const issue of checked.issues) issues.push({ path: `steps[${index}].${issue.path.replace(/^rollout\.?/, '') || 'rollout'}`, message: issue.message });
    }
    const gate = step.gate === null ? undefined : (step.gate ?? input.gate);
    steps.push({ rollout: checked.ok ? (checked.value.rollout ?? rollout) : rollout, targetAt, ...(gate ? { gate: gate as RolloutGate } : {}) });
  });
  if (issues.length) throw validationError('rollout plan', issues);
  const minDwellMs = input.minDwell === undefined ? null : parseDuration(input.minDwell);
  return {
    steps,
    onResume: input.onResume,
    catchUp: input.catchUp,
    ...(minDwellMs !== null ? { minDwellMs } : {}),
    ...(bucketBy !== undefined ? { bucketBy } : {}),
  };
}
