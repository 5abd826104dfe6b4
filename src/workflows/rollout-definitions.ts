// The rollout workflow's public contract: its input, its status, its signals, query and update, and
// the search attributes it keeps current. The API, the activities and the data layer import these
// (types with `import type`); the names are persisted in histories and typed by people in the
// Temporal UI and CLI, so they never change.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Rollout } from '../engine/types.ts';

export const ROLLOUT_WORKFLOW_TYPE = 'rolloutWorkflow';

/** `rollout:<flagKey>`: a business key, so a second plan for the same flag collides with the first. */
export function rolloutWorkflowId(flagKey: string): string {
  return `rollout:${flagKey}`;
}

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

export interface RolloutWorkflowInput {
  rolloutId: string;
  flagKey: string;
  plan: RolloutPlan;
  /** The flag's rollout when the plan was accepted (null: none); a rollback restores it. */
  startRollout: Rollout | null;
  startedBy: string;
  reason?: string;
}

export type RolloutState = 'scheduled' | 'running' | 'paused' | 'completed' | 'cancelled' | 'rolled_back' | 'failed';

/** Why a rollout is paused: a person or the UI (`manual`), or the rollout itself. */
export type PauseCause = 'manual' | 'gate' | 'conflict' | 'auto_progress' | 'killswitch' | 'flag_unavailable';

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
