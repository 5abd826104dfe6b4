import { randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { dryRunOf, type WriteTransaction } from '../data/write-transaction.ts';
import type { Flag } from '@flagship/engine';
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
import { cancelOptionsSignal, controlUpdate, type ControlUpdateInput, FLAG_KEY_ATTRIBUTE, resumeSignal, ROLLOUT_PERCENT_ATTRIBUTE, ROLLOUT_STATE_ATTRIBUTE, ROLLOUT_WORKFLOW_TYPE, rolloutStaticDetails, rolloutStaticSummary, type RolloutStatus, type RolloutWorkflowInput } from '../workflows/rollout-definitions.ts';
import { rolloutPercent } from '../domain/rollout-format.ts';
import type { rolloutWorkflow } from '../workflows/rollout-workflow.ts';
import type { ApiDependencies } from './dependencies.ts';
import { normalizePlan, type PlanInput } from '../domain/rollout-plan.ts';
import { callTemporal, settledBy, temporalDeadline, workflowRunStatus } from './workflow-calls.ts';
import { rolloutWorkflowId } from '../domain/workflow-ids.ts';
import { isActiveRollout } from '../domain/rollout-state.ts';

type Deps = Pick<ApiDependencies, 'db' | 'log' | 'temporal'>;

function isActive(record: RolloutRecord): boolean {
  return isActiveRollout(record.state);
}

function handleOf(deps: Deps, record: RolloutRecord): WorkflowHandle<typeof rolloutWorkflow> {
  return deps.temporal.client.workflow.getHandle<typeof rolloutWorkflow>(record.workflowId, record.runId ?? undefined);
}

/** A plan accepted while Temporal did not answer: its workflow is started by a worker's reconciler. */
export function awaitsStart(record: RolloutRecord): boolean {
  return record.state === 'scheduled' && record.runId === null;
}

/**
 * Whether a workflow run is this rollout's. Runs started since the memo exists name their rollout;
 * an older run is recognised by its run id, or else by having started no earlier than the record.
 */
function isRunOf(description: WorkflowExecutionDescription, record: RolloutRecord): boolean {
  const memoId = description.memo?.rolloutId;
  if (typeof memoId === 'string') return memoId === record.id;
  if (record.runId !== null) return description.runId === record.runId;
  return description.startTime.getTime() >= record.createdAt - 1_000;
}

function workflowInput(record: RolloutRecord): RolloutWorkflowInput {
  return {
    rolloutId: record.id,
    flagKey: record.flagKey,
    plan: record.plan,
    startRollout: record.startRollout,
    startedBy: record.startedBy,
    ...(record.reason ? { reason: record.reason } : {}),
  };
}

/**
 * Starts the workflow of an accepted plan and records its run id. A running workflow with the same
 * id is `WorkflowExecutionAlreadyStartedError`, for the caller to judge (see `startAwaitingRollout`).
 */
async function startWorkflow(deps: Deps, record: RolloutRecord, deadline: number): Promise<void> {
  const input = workflowInput(record);
  const handle = await callTemporal(deps.temporal, 'starting the rollout workflow', deadline, () =>
    deps.temporal.client.workflow.start<typeof rolloutWorkflow>(ROLLOUT_WORKFLOW_TYPE, {
      workflowId: record.workflowId,
      taskQueue: deps.temporal.taskQueue,
      args: [input],
      // A finished plan's id may be reused; a running one's may not.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      // Names the rollout, so whoever finds the id taken can tell whether the run is this plan's.
      memo: { rolloutId: record.id },
      typedSearchAttributes: [
        { key: FLAG_KEY_ATTRIBUTE, value: record.flagKey },
        { key: ROLLOUT_STATE_ATTRIBUTE, value: 'scheduled' },
        { key: ROLLOUT_PERCENT_ATTRIBUTE, value: rolloutPercent(record.startRollout) },
      ],
      staticSummary: rolloutStaticSummary(record.flagKey, record.plan, record.startRollout),
      staticDetails: rolloutStaticDetails(input),
    }),
  );
  await setRolloutRunId(deps.db, record.id, handle.firstExecutionRunId);
}

/**
 * For the worker's reconciler: starts the workflow of a plan accepted while Temporal did not answer.
 * If the id is taken by this plan's own run (the API's start reached Temporal but its answer did
 * not), that run is recorded; if by another running workflow, the plan fails, as it would have at
 * once.
 */
export async function startAwaitingRollout(deps: Deps, record: RolloutRecord, deadline: number): Promise<RolloutRecord> {
  try {
    await startWorkflow(deps, record, deadline);
    deps.log.info({ rolloutId: record.id, flagKey: record.flagKey }, 'started the workflow of a rollout accepted while Temporal was unavailable');
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const description = await callTemporal(deps.temporal, 'describing the rollout workflow', deadline, () => handleOf(deps, { ...record, runId: null }).describe());
    if (isRunOf(description, record)) await setRolloutRunId(deps.db, record.id, description.runId);
    else return abandonRollout(deps.db, record.id, { state: 'failed', reason: `workflow ${record.workflowId} is already running for another rollout`, actor: 'system' });
  }
  return (await getRollout(deps.db, record.id)) ?? record;
}

/**
 * Brings an active rollout record in line with its workflow when the workflow can no longer do it
 * itself: it was terminated, or ended without recording it (no cleanup runs). A plan whose workflow
 * has not started yet is left to the reconciler, which starts it.
 */
export async function reconcileRollout(deps: Deps, record: RolloutRecord, deadline: number): Promise<RolloutRecord> {
  if (!isActive(record)) return record;
  const status = await workflowRunStatus(deps.temporal, 'describing the rollout workflow', deadline, handleOf(deps, record), (description) => isRunOf(description, record));
  if (status === 'RUNNING') return record;
  if (status === null && awaitsStart(record)) return record;
  // Re-read: the workflow may have recorded its own end while we looked.
  const fresh = (await getRollout(deps.db, record.id)) ?? record;
  if (!isActive(fresh)) return fresh;
  deps.log.warn({ rolloutId: record.id, flagKey: record.flagKey, workflowStatus: status ?? 'gone' }, 'rollout workflow ended without recording it; reconciling');
  if (status === null) {
    return abandonRollout(deps.db, record.id, { state: 'failed', reason: 'its workflow is gone; the flag\'s rollout stays where it was', actor: 'system' });
  }
  return abandonRollout(deps.db, record.id, {
    state: status === 'CANCELLED' || status === 'TERMINATED' ? 'cancelled' : 'failed',
    reason: `its workflow was ${status.toLowerCase().replace('_', ' ')} without recording its end; the flag's rollout stays where it was`,
    actor: 'system',
  });
}

/** The flag's active rollout, as recorded; `not_found` when there is none. */
async function activeRollout(deps: Deps, flagKey: string): Promise<RolloutRecord> {
  const record = await currentRolloutForFlag(deps.db, flagKey);
  if (!record || !isActive(record)) throw new AppError('not_found', `flag "${flagKey}" has no running rollout`);
  return record;
}

/** Controls need a workflow: one whose start is still pending can only be reached once it has started. */
function assertStarted(record: RolloutRecord): void {
  if (awaitsStart(record)) {
    throw new AppError('unavailable', `the workflow of rollout ${record.id} has not started yet: Temporal did not answer when the plan was accepted, and a worker starts it as soon as Temporal does; try again then`, {
      rolloutId: record.id,
      state: record.state,
    });
  }
}

/**
 * Accepts a plan and starts its workflow. The plan is committed first (row, audit entry,
 * `flag.rollout_scheduled`, and from then on it owns the flag's rollout). If Temporal does not
 * answer within the bound, the answer is `unavailable`, and the plan stays `scheduled`: a worker's
 * reconciler starts its workflow when Temporal answers again (docs/rollouts.md). A running
 * workflow with the same id is `rollout_conflict`. A dry run makes every check and the write, rolls
 * the write back and starts no workflow.
 */
export async function startRollout(deps: Deps, flagKey: string, body: PlanInput, actor: string, options: { guard?: (flag: Flag, tx: WriteTransaction) => void | Promise<void>; dryRun?: boolean } = {}): Promise<RolloutRecord> {
  const deadline = temporalDeadline(deps.temporal);
  const existing = await currentRolloutForFlag(deps.db, flagKey);
  if (existing && isActive(existing)) {
    // Our own record is the authority; Temporal only tells us whether its workflow is gone.
    const reconciled = await reconcileRollout(deps, existing, deadline).catch((error: unknown) => {
      if (error instanceof AppError && error.code === 'unavailable') return existing;
      throw error;
    });
    if (isActive(reconciled)) {
      throw new AppError('rollout_conflict', `flag "${flagKey}" already has a ${reconciled.state} rollout (${reconciled.id}, started by ${reconciled.startedBy})`, {
        rolloutId: reconciled.id,
        state: reconciled.state,
      });
    }
  }
  const id = `ro_${randomUUID()}`;
  const record = await createRollout(options.dryRun ? dryRunOf(deps.db) : deps.db, {
    id,
    flagKey,
    workflowId: rolloutWorkflowId(flagKey),
    startedBy: actor,
    ...(body.reason ? { reason: body.reason } : {}),
    plan: async (flag, tx) => {
      // Under the write lock: a flag that became high-impact a moment ago is seen.
      await options.guard?.(flag, tx);
      return normalizePlan(body, flag, Date.now());
    },
  });
  if (options.dryRun) return record;
  try {
    await startWorkflow(deps, record, deadline);
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      await abandonRollout(deps.db, id, { state: 'failed', reason: `workflow ${record.workflowId} is already running`, actor: 'system' });
      throw new AppError('rollout_conflict', `a rollout workflow (${record.workflowId}) is already running for flag "${flagKey}"`, { workflowId: record.workflowId });
    }
    if (error instanceof AppError && error.code === 'unavailable') {
      throw new AppError('unavailable', `${error.message}. The plan is recorded as rollout ${id} (scheduled); a worker starts its workflow as soon as Temporal answers, and GET /v1/flags/${flagKey}/rollout shows it`, {
        rolloutId: id,
        state: 'scheduled',
      });
    }
    throw error;
  }
  return (await getRollout(deps.db, id)) ?? record;
}

/** Sends the `control` update to a rollout's workflow; answers once the change is recorded. */
export async function sendControl(deps: Deps, record: RolloutRecord, update: ControlUpdateInput, deadline: number): Promise<RolloutStatus> {
  assertStarted(record);
  try {
    return await callTemporal(deps.temporal, `asking the rollout to ${update.action}`, deadline, () => handleOf(deps, record).executeUpdate(controlUpdate, { args: [update] }));
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) {
      throw new AppError('validation_error', `cannot ${update.action} the rollout: ${error.cause?.message ?? error.message}`);
    }
    if (error instanceof WorkflowNotFoundError) {
      await reconcileRollout(deps, record, deadline);
      throw new AppError('not_found', `flag "${record.flagKey}" has no running rollout`);
    }
    throw error;
  }
}

/**
 * Pause or resume through the workflow's update: answers once the change is recorded, or
 * `unavailable` when Temporal (or a worker) does not answer within the bound.
 */
export async function controlRollout(
  deps: Deps,
  flagKey: string,
  action: 'pause' | 'resume',
  by: string,
  reason: string | undefined,
): Promise<{ record: RolloutRecord; status: RolloutStatus }> {
  const record = await activeRollout(deps, flagKey);
  const status = await sendControl(deps, record, { action, by, ...(reason ? { reason } : {}) }, temporalDeadline(deps.temporal));
  return { record: (await getRollout(deps.db, record.id)) ?? record, status };
}

/**
 * Cancels through Temporal's own cancellation (what the UI's Cancel button does), after telling the
 * workflow whether to roll back. Waits, within the same bound, for the workflow to record the end;
 * a rollout whose worker is slow is answered as it stands (still ending).
 */
export async function cancelRollout(deps: Deps, flagKey: string, options: { rollback: boolean; reason?: string; by: string }): Promise<RolloutRecord> {
  const record = await activeRollout(deps, flagKey);
  assertStarted(record);
  const deadline = temporalDeadline(deps.temporal);
  const handle = handleOf(deps, record);
  try {
    await callTemporal(deps.temporal, 'cancelling the rollout', deadline, async () => {
      await handle.signal(cancelOptionsSignal, { rollback: options.rollback, by: options.by, ...(options.reason ? { reason: options.reason } : {}) });
      await handle.cancel();
    });
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return reconcileRollout(deps, record, deadline);
    throw error;
  }
  await settledBy(deps.temporal.client.withDeadline(deadline, () => handle.result()), deadline);
  return (await getRollout(deps.db, record.id)) ?? record;
}

/**
 * After auto-progress is enabled again: resume every rollout that held because it was off (the
 * others stay paused: a person paused them). All within one bound; those Temporal did not answer
 * for are logged and stay paused.
 */
export async function resumeHeldRollouts(deps: Deps, by: string): Promise<string[]> {
  const held = (await listRollouts(deps.db, ['paused'], 1000)).filter((record) => record.pause?.cause === 'auto_progress');
  const deadline = temporalDeadline(deps.temporal);
  const outcomes = await Promise.allSettled(
    held.map((record) => callTemporal(deps.temporal, 'resuming a held rollout', deadline, () => handleOf(deps, record).signal(resumeSignal, { by, reason: 'auto-progress enabled again' }))),
  );
  const resumed: string[] = [];
  outcomes.forEach((outcome, index) => {
    const record = held[index] as RolloutRecord;
    if (outcome.status === 'fulfilled') resumed.push(record.flagKey);
    else deps.log.warn({ err: outcome.reason, rolloutId: record.id, flagKey: record.flagKey }, 'could not resume a held rollout');
  });
  return resumed;
}
