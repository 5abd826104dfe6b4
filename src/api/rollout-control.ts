import { randomUUID } from 'node:crypto';
import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Flag } from '../engine/index.ts';
import {
  abandonRollout,
  createRollout,
  currentRolloutForFlag,
  getRollout,
  listRollouts,
  setRolloutRunId,
  type RolloutRecord,
} from '../data/rollouts.ts';
import { AppError } from '../errors.ts';
import {
  cancelOptionsSignal,
  controlUpdate,
  FLAG_KEY_ATTRIBUTE,
  resumeSignal,
  ROLLOUT_PERCENT_ATTRIBUTE,
  ROLLOUT_STATE_ATTRIBUTE,
  ROLLOUT_WORKFLOW_TYPE,
  rolloutWorkflowId,
  type ControlUpdateInput,
  type RolloutStatus,
  type RolloutWorkflowInput,
} from '../workflows/rollout-definitions.ts';
import { ACTIVE_ROLLOUT_STATES, rolloutPercent, rolloutStaticDetails, rolloutStaticSummary } from '../workflows/rollout-format.ts';
import type { rolloutWorkflow } from '../workflows/rollout-workflow.ts';
import type { ApiDependencies } from './dependencies.ts';
import { normalizePlan, type PlanInput } from './rollout-plan.ts';

/**
 * How long a rollout may sit `scheduled` without a workflow before it counts as abandoned (the API
 * process died between accepting the plan and starting its workflow).
 */
const START_GRACE_MS = 60_000;
/** How long a cancel waits for the workflow to record its end before answering. */
const CANCEL_WAIT_MS = 20_000;

type Deps = Pick<ApiDependencies, 'db' | 'log' | 'temporal'>;

function isActive(record: RolloutRecord): boolean {
  return (ACTIVE_ROLLOUT_STATES as readonly string[]).includes(record.state);
}

/** Temporal being unreachable is `unavailable`; the caller's request was fine. */
function temporalError(error: unknown, what: string): never {
  if (error instanceof AppError) throw error;
  if (error instanceof ServiceError) throw new AppError('unavailable', `Temporal did not answer while ${what}: ${error.message}`);
  throw error;
}

function handleOf(deps: Deps, record: RolloutRecord): WorkflowHandle<typeof rolloutWorkflow> {
  return deps.temporal.client.workflow.getHandle<typeof rolloutWorkflow>(record.workflowId, record.runId ?? undefined);
}

/**
 * Brings an active rollout record in line with its workflow when the workflow can no longer do it
 * itself: it never started (the API died in between), or it was terminated (no cleanup runs).
 */
export async function reconcileRollout(deps: Deps, record: RolloutRecord): Promise<RolloutRecord> {
  if (!isActive(record)) return record;
  let status: string;
  try {
    const description = await handleOf(deps, record).describe();
    const olderRun = record.runId === null && description.startTime.getTime() < record.createdAt - 1_000;
    status = olderRun ? 'NOT_FOUND' : description.status.name;
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) temporalError(error, 'describing the rollout workflow');
    status = 'NOT_FOUND';
  }
  if (status === 'RUNNING') return record;
  if (status === 'NOT_FOUND') {
    if (Date.now() - record.createdAt < START_GRACE_MS) return record;
    return abandonRollout(deps.db, record.id, { state: 'failed', reason: 'its workflow never started', actor: 'system' });
  }
  // Re-read: the workflow may have recorded its own end while we looked.
  const fresh = (await getRollout(deps.db, record.id)) ?? record;
  if (!isActive(fresh)) return fresh;
  const ended = status.toLowerCase().replace('_', ' ');
  deps.log.warn({ rolloutId: record.id, flagKey: record.flagKey, workflowStatus: status }, 'rollout workflow ended without recording it; reconciling');
  return abandonRollout(deps.db, record.id, {
    state: status === 'CANCELLED' || status === 'TERMINATED' ? 'cancelled' : 'failed',
    reason: `its workflow was ${ended} without recording its end; the flag's rollout stays where it was`,
    actor: 'system',
  });
}

/** The flag's active rollout, reconciled; `not_found` when there is none. */
export async function activeRollout(deps: Deps, flagKey: string): Promise<RolloutRecord> {
  const record = await currentRolloutForFlag(deps.db, flagKey);
  const reconciled = record ? await reconcileRollout(deps, record) : null;
  if (!reconciled || !isActive(reconciled)) throw new AppError('not_found', `flag "${flagKey}" has no running rollout`);
  return reconciled;
}

/**
 * Accepts a plan and starts its workflow. The plan is committed first (row, audit entry,
 * `flag.rollout_scheduled`, and from then on it owns the flag's rollout); a workflow that cannot
 * start marks it failed again. A running workflow with the same id is `rollout_conflict`.
 */
export async function startRollout(deps: Deps, flagKey: string, body: PlanInput, actor: string, options: { guard?: (flag: Flag) => void } = {}): Promise<RolloutRecord> {
  const existing = await currentRolloutForFlag(deps.db, flagKey);
  if (existing && isActive(existing)) {
    const reconciled = await reconcileRollout(deps, existing);
    if (isActive(reconciled)) {
      throw new AppError('rollout_conflict', `flag "${flagKey}" already has a ${reconciled.state} rollout (${reconciled.id}, started by ${reconciled.startedBy})`, {
        rolloutId: reconciled.id,
        state: reconciled.state,
      });
    }
  }
  const id = `ro_${randomUUID()}`;
  const workflowId = rolloutWorkflowId(flagKey);
  const record = await createRollout(deps.db, {
    id,
    flagKey,
    workflowId,
    startedBy: actor,
    ...(body.reason ? { reason: body.reason } : {}),
    plan: (flag) => {
      // Under the write lock: a flag that became high-impact a moment ago is seen.
      options.guard?.(flag);
      return normalizePlan(body, flag, Date.now());
    },
  });
  const input: RolloutWorkflowInput = {
    rolloutId: id,
    flagKey,
    plan: record.plan,
    startRollout: record.startRollout,
    startedBy: actor,
    ...(body.reason ? { reason: body.reason } : {}),
  };
  try {
    const handle = await deps.temporal.client.workflow.start<typeof rolloutWorkflow>(ROLLOUT_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: deps.temporal.taskQueue,
      args: [input],
      // A finished plan's id may be reused; a running one's may not.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      typedSearchAttributes: [
        { key: FLAG_KEY_ATTRIBUTE, value: flagKey },
        { key: ROLLOUT_STATE_ATTRIBUTE, value: 'scheduled' },
        { key: ROLLOUT_PERCENT_ATTRIBUTE, value: rolloutPercent(record.startRollout) },
      ],
      staticSummary: rolloutStaticSummary(flagKey, record.plan, record.startRollout),
      staticDetails: rolloutStaticDetails(input),
    });
    await setRolloutRunId(deps.db, id, handle.firstExecutionRunId);
  } catch (error) {
    const conflict = error instanceof WorkflowExecutionAlreadyStartedError;
    await abandonRollout(deps.db, id, {
      state: 'failed',
      reason: conflict ? `workflow ${workflowId} is already running` : `its workflow could not be started: ${error instanceof Error ? error.message : String(error)}`,
      actor: 'system',
    });
    if (conflict) throw new AppError('rollout_conflict', `a rollout workflow (${workflowId}) is already running for flag "${flagKey}"`, { workflowId });
    temporalError(error, 'starting the rollout workflow');
  }
  return (await getRollout(deps.db, id)) ?? record;
}

/**
 * Pause or resume through the workflow's update: answers once the change is recorded. A pause says
 * why: `manual` (a person), or `killswitch` when engaging the flag's category paused it.
 */
export async function controlRollout(
  deps: Deps,
  flagKey: string,
  action: 'pause' | 'resume',
  by: string,
  reason: string | undefined,
  cause: ControlUpdateInput['cause'] = 'manual',
): Promise<{ record: RolloutRecord; status: RolloutStatus }> {
  const record = await activeRollout(deps, flagKey);
  let status: RolloutStatus;
  try {
    status = await handleOf(deps, record).executeUpdate(controlUpdate, { args: [{ action, by, ...(reason ? { reason } : {}), ...(cause === 'manual' ? {} : { cause }) }] });
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) {
      throw new AppError('validation_error', `cannot ${action} the rollout: ${error.cause?.message ?? error.message}`);
    }
    if (error instanceof WorkflowNotFoundError) {
      await reconcileRollout(deps, record);
      throw new AppError('not_found', `flag "${flagKey}" has no running rollout`);
    }
    temporalError(error, `asking the rollout to ${action}`);
  }
  return { record: (await getRollout(deps.db, record.id)) ?? record, status };
}

/**
 * Cancels through Temporal's own cancellation (what the UI's Cancel button does), after telling the
 * workflow whether to roll back. Waits a while for the workflow to record the end.
 */
export async function cancelRollout(deps: Deps, flagKey: string, options: { rollback: boolean; reason?: string; by: string }): Promise<RolloutRecord> {
  const record = await activeRollout(deps, flagKey);
  const handle = handleOf(deps, record);
  try {
    await handle.signal(cancelOptionsSignal, { rollback: options.rollback, by: options.by, ...(options.reason ? { reason: options.reason } : {}) });
    await handle.cancel();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return reconcileRollout(deps, record);
    temporalError(error, 'cancelling the rollout');
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    handle.result().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, CANCEL_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
  const fresh = (await getRollout(deps.db, record.id)) ?? record;
  return isActive(fresh) ? reconcileRollout(deps, fresh) : fresh;
}

/**
 * After auto-progress is enabled again: resume every rollout that held because it was off (the
 * others stay paused: a person paused them).
 */
export async function resumeHeldRollouts(deps: Deps, by: string): Promise<string[]> {
  const paused = await listRollouts(deps.db, ['paused'], 1000);
  const resumed: string[] = [];
  for (const record of paused.filter((candidate) => candidate.pause?.cause === 'auto_progress')) {
    try {
      await handleOf(deps, record).signal(resumeSignal, { by, reason: 'auto-progress enabled again' });
      resumed.push(record.flagKey);
    } catch (error) {
      deps.log.warn({ err: error, rolloutId: record.id, flagKey: record.flagKey }, 'could not resume a held rollout');
    }
  }
  return resumed;
}
