import { randomUUID } from 'node:crypto';
import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { Actor } from '../data/actor.ts';
import type { Flag } from '@flagship/engine';
import {
  createChangeRequest,
  failChangeRequest,
  getChangeRequest,
  setChangeRequestImpact,
  setChangeRequestRunId,
  type ChangeRequestRecord,
  type NewChangeRequest,
} from '../data/change-requests.ts';
import { AppError, ERROR_STATUS, type ErrorCode } from '../errors.ts';
import {
  approveUpdate,
  cancelUpdate,
  CHANGE_REQUEST_STATUS_ATTRIBUTE,
  CHANGE_REQUEST_WORKFLOW_TYPE,
  CHANGE_REQUESTED_BY_ATTRIBUTE,
  rejectUpdate,
  type ChangeRequestWorkflowInput,
} from '../workflows/change-request-definitions.ts';
import type { changeRequestWorkflow } from '../workflows/change-request-workflow.ts';
import { FLAG_KEY_ATTRIBUTE } from '../workflows/rollout-definitions.ts';
import { formatUtc } from '../domain/rollout-format.ts';
import { changeRequestImpact } from './change-impact.ts';
import type { ApiDependencies } from './dependencies.ts';
import { callTemporal, temporalDeadline, temporalUiLink, workflowRunStatus } from './workflow-calls.ts';
import { changeRequestWorkflowId } from '../domain/workflow-ids.ts';
import { parseDuration } from '../domain/duration.ts';
import type { ChangeKind } from '../domain/change-request.ts';
import { iso } from './iso.ts';

type Deps = Pick<ApiDependencies, 'db' | 'log' | 'temporal' | 'previewer'>;

const HOUR_MS = 3_600_000;
/** How long a change request waits for a second person unless the request says otherwise. */
const DEFAULT_EXPIRY_MS = 24 * HOUR_MS;
const MIN_EXPIRY_MS = 1_000;
const MAX_EXPIRY_MS = 30 * 24 * HOUR_MS;
/**
 * Thrown from a write's guard, under the write lock, when the change reaches a high-impact flag:
 * nothing is written, and the route files a change request instead (approval-gates.ts decides).
 */
export class ApprovalNeeded extends Error {
  /** The version of what is changed (the flag's, or the segment's) that the request binds to. */
  readonly baseVersion: number;

  constructor(why: string, baseVersion: number) {
    super(why);
    this.name = 'ApprovalNeeded';
    this.baseVersion = baseVersion;
  }
}

export const approvalOptionsSchema = z
  .strictObject({
    reason: z.string().max(500).optional().describe('Why the change is wanted; shown to the approver.'),
    expiresIn: z.union([z.number().int().min(MIN_EXPIRY_MS).max(MAX_EXPIRY_MS), z.string().min(1).max(40)]).optional()
      .describe('How long the request waits for a second person: "30m", "2h", "3d", "PT1H" or milliseconds (default 24 h, 1 s to 30 d).'),
  })
  .describe('For a high-impact flag: options of the change request the change becomes (ignored otherwise).');
export type ApprovalOptions = z.output<typeof approvalOptionsSchema>;

/** Reads `approval` from a body whose schema is open (a merge patch). */
export function parseApprovalOptions(value: unknown): ApprovalOptions | undefined {
  if (value === undefined) return undefined;
  const parsed = approvalOptionsSchema.safeParse(value);
  if (!parsed.success) {
    throw new AppError('validation_error', `invalid approval: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`, {
      issues: parsed.error.issues.map((issue) => ({ path: ['approval', ...issue.path].join('.'), message: issue.message })),
    });
  }
  return parsed.data;
}

function expiryMs(options: ApprovalOptions | undefined): number {
  if (options?.expiresIn === undefined) return DEFAULT_EXPIRY_MS;
  const ms = parseDuration(options.expiresIn);
  if (ms === null || ms < MIN_EXPIRY_MS || ms > MAX_EXPIRY_MS) {
    throw new AppError('validation_error', 'approval.expiresIn must be a duration between 1 s and 30 d ("30m", "2h", "3d", "PT1H" or milliseconds)', {
      issues: [{ path: 'approval.expiresIn', message: 'between 1 s and 30 d' }],
    });
  }
  return ms;
}

/** The wire form of a change request. */
export function changeRequestView(record: ChangeRequestRecord, deps: Pick<ApiDependencies, 'temporal'>): Record<string, unknown> {
  const self = `/v1/changes/${record.id}`;
  const pending = record.status === 'pending';
  return {
    id: record.id,
    flagKey: record.flagKey,
    ...(record.segmentKey ? { segmentKey: record.segmentKey } : {}),
    kind: record.kind,
    affectedFlags: record.affectedFlags,
    // Who may decide: any person holding feature_flag:approve but the requester, narrowed by every list here.
    approvers: record.approvers,
    change: record.change,
    impact: record.impact,
    diff: record.diff,
    contentHash: record.contentHash,
    baseVersion: record.baseVersion,
    status: record.status,
    requestedBy: record.requestedBy,
    reason: record.reason,
    createdAt: iso(record.createdAt),
    expiresAt: iso(record.expiresAt),
    decision: record.decidedBy
      ? { status: record.status === 'applied' || record.status === 'failed' ? 'approved' : record.status, by: record.decidedBy, at: iso(record.decidedAt), comment: record.decisionComment }
      : null,
    approvedBy: record.decidedBy && ['approved', 'applied', 'failed'].includes(record.status) ? record.decidedBy : null,
    result: record.result,
    failure: record.failure,
    updatedAt: iso(record.updatedAt),
    finishedAt: iso(record.finishedAt),
    workflowId: record.workflowId,
    runId: record.runId,
    links: {
      self,
      flag: `/v1/flags/${record.flagKey}`,
      ...(record.segmentKey ? { segment: `/v1/segments/${record.segmentKey}` } : {}),
      ...(pending ? { approve: `${self}/approve`, reject: `${self}/reject`, cancel: `${self}/cancel` } : {}),
      ...(record.result?.rolloutId ? { rollout: `/v1/flags/${record.flagKey}/rollout` } : {}),
      temporalUi: temporalUiLink(deps.temporal, record.workflowId, record.runId),
    },
  };
}

function handleOf(deps: Deps, record: ChangeRequestRecord): WorkflowHandle<typeof changeRequestWorkflow> {
  return deps.temporal.client.workflow.getHandle<typeof changeRequestWorkflow>(record.workflowId);
}

export interface ChangeFiling {
  kind: ChangeKind;
  /** The flag changed; for a segment patch, empty (the data layer files it under the first high-impact flag it touches). */
  flagKey: string;
  segmentKey?: string;
  change: Record<string, unknown>;
  baseVersion: number;
  /** Who asks: the principal's actor (their id becomes the request's `requestedBy`). */
  requester: Actor;
  approval?: ApprovalOptions;
  /** Checks of the change against the flag under the write lock beyond the data layer's own (a plan's validation). */
  check?: (flag: Flag) => void;
  /** Kind `schedule`: what the request writes in its own transaction (see NewChangeRequest.prepare). */
  prepare?: NewChangeRequest['prepare'];
  /** The request's id, when what `prepare` writes must name it. */
  id?: string;
}

export function newChangeRequestId(): string {
  return `cr_${randomUUID()}`;
}

function workflowInput(record: ChangeRequestRecord): ChangeRequestWorkflowInput {
  return {
    requestId: record.id,
    flagKey: record.flagKey,
    kind: record.kind,
    change: record.change,
    contentHash: record.contentHash,
    baseVersion: record.baseVersion,
    requestedBy: record.requestedBy,
    ...(record.reason ? { reason: record.reason } : {}),
    expiresAt: record.expiresAt,
  };
}

/** Starts a request's approval workflow (`change:<id>`) and records its run id. */
async function startWorkflow(deps: Deps, record: ChangeRequestRecord, deadline: number): Promise<void> {
  const handle = await callTemporal(deps.temporal, 'starting the approval workflow', deadline, () =>
    deps.temporal.client.workflow.start<typeof changeRequestWorkflow>(CHANGE_REQUEST_WORKFLOW_TYPE, {
      workflowId: record.workflowId,
      taskQueue: deps.temporal.taskQueue,
      args: [workflowInput(record)],
      workflowIdConflictPolicy: 'FAIL',
      typedSearchAttributes: [
        { key: FLAG_KEY_ATTRIBUTE, value: record.flagKey },
        { key: CHANGE_REQUEST_STATUS_ATTRIBUTE, value: 'pending' },
        { key: CHANGE_REQUESTED_BY_ATTRIBUTE, value: record.requestedBy },
      ],
      staticSummary: `Change request: ${describeChange(record)} by ${record.requestedBy}${impactSummaryOf(record) ? ` · ${impactSummaryOf(record)}` : ''}`.slice(0, 400),
      staticDetails: staticDetails(record),
    }),
  );
  await setChangeRequestRunId(deps.db, record.id, handle.firstExecutionRunId);
}

/** A request filed while Temporal did not answer: its workflow is started by a worker's reconciler. */
export function awaitsStart(record: ChangeRequestRecord): boolean {
  return record.status === 'pending' && record.runId === null;
}

/**
 * For the worker's reconciler: starts the approval workflow of a request filed while Temporal did
 * not answer. Its id is the request's own, so a workflow already running under it is this
 * request's (the API's start reached Temporal, its answer did not): that run is recorded.
 */
export async function startAwaitingChangeRequest(deps: Deps, record: ChangeRequestRecord, deadline: number): Promise<ChangeRequestRecord> {
  try {
    await startWorkflow(deps, record, deadline);
    deps.log.info({ requestId: record.id, flagKey: record.flagKey }, 'started the approval workflow of a request filed while Temporal was unavailable');
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const description = await callTemporal(deps.temporal, 'describing the approval workflow', deadline, () => handleOf(deps, record).describe());
    await setChangeRequestRunId(deps.db, record.id, description.runId);
  }
  return (await getChangeRequest(deps.db, record.id)) ?? record;
}

/**
 * Files a change request for a high-impact flag and starts its approval workflow (`change:<id>`).
 * The request is committed first (row, audit entry, `change.requested`). If Temporal does not
 * answer within the bound, the answer is `unavailable` and the request stays pending: a worker's
 * reconciler starts its workflow when Temporal answers again.
 */
export async function fileChangeRequest(deps: Deps, filing: ChangeFiling): Promise<ChangeRequestRecord> {
  const deadline = temporalDeadline(deps.temporal);
  const expiresIn = expiryMs(filing.approval);
  const id = filing.id ?? newChangeRequestId();
  const reason = filing.approval?.reason ?? (typeof filing.change.plan === 'object' ? ((filing.change.plan as { reason?: string }).reason ?? undefined) : undefined);
  const record = await createChangeRequest(deps.db, {
    id,
    kind: filing.kind,
    flagKey: filing.flagKey,
    ...(filing.segmentKey ? { segmentKey: filing.segmentKey } : {}),
    change: filing.change,
    baseVersion: filing.baseVersion,
    requester: filing.requester,
    ...(reason ? { reason } : {}),
    expiresAt: Date.now() + expiresIn,
    workflowId: changeRequestWorkflowId(id),
    ...(filing.check ? { check: filing.check } : {}),
    ...(filing.prepare ? { prepare: filing.prepare } : {}),
  });
  const filedAt = Date.now();
  const impact = attachImpact(deps, record);
  await settledWithin(impact, IMPACT_AT_FILING_WAIT_MS);
  try {
    await startWorkflow(deps, record, deadline);
    await settledWithin(impact, filedAt + IMPACT_AT_ANSWER_WAIT_MS - Date.now());
    return (await getChangeRequest(deps.db, id)) ?? record;
  } catch (error) {
    if (error instanceof AppError && error.code === 'unavailable') {
      throw new AppError('unavailable', `${error.message}. The change request is recorded as ${id} (pending); a worker starts its approval workflow as soon as Temporal answers`, {
        id,
        status: record.status,
      });
    }
    // Its id is new: a workflow under it cannot exist, so this is a bug, not a conflict.
    await failChangeRequest(deps.db, id, { code: 'unavailable', message: `its approval workflow could not be started: ${error instanceof Error ? error.message : String(error)}` });
    throw error;
  }
}

/**
 * How long filing waits for the impact before it starts the approval workflow: a slow preview (a
 * large sample on a busy machine) must not eat the Temporal call's bound. Past it the workflow
 * starts at once, and its summary goes without the impact.
 */
const IMPACT_AT_FILING_WAIT_MS = 1_000;

/**
 * How long, from filing, the answer waits for a slow impact once the workflow has started. An
 * approver who opens the inbox right after the answer must read the impact, not "none could be
 * computed" for one still on its way; only a preview slower than this is stored after the answer.
 */
const IMPACT_AT_ANSWER_WAIT_MS = 10_000;

async function settledWithin(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Computes the request's impact over the sample and keeps it with the request, before its workflow
 * starts, so the Temporal UI's summary carries it. A preview that fails leaves the request without
 * one (logged): the approver can still ask for it, and the change itself does not depend on it.
 */
async function attachImpact(deps: Deps, record: ChangeRequestRecord): Promise<void> {
  try {
    const impact = await changeRequestImpact(deps, record);
    if (!impact) return;
    await setChangeRequestImpact(deps.db, record.id, impact as unknown as Record<string, unknown>);
    record.impact = impact as unknown as Record<string, unknown>;
  } catch (error) {
    deps.log.warn({ err: error, changeRequestId: record.id }, 'could not compute the impact of a change request; it is filed without one');
  }
}

function impactSummaryOf(record: ChangeRequestRecord): string | null {
  return typeof record.impact?.summary === 'string' ? record.impact.summary : null;
}

function describeChange(record: ChangeRequestRecord): string {
  switch (record.kind) {
    case 'patch':
      return `patch ${record.flagKey} v${record.baseVersion} (${(record.diff ?? []).map((entry) => entry.path).slice(0, 5).join(', ') || 'no change'})`;
    case 'rollout':
      return `rollout plan on ${record.flagKey} v${record.baseVersion}`;
    case 'segment-patch':
      return `patch segment ${record.segmentKey} v${record.baseVersion} (reaches ${record.affectedFlags.join(', ')})`;
    default:
      return `${record.kind} ${record.flagKey} v${record.baseVersion}`;
  }
}

function staticDetails(record: ChangeRequestRecord): string {
  const diff = (record.diff ?? []).slice(0, 30).map((entry) => `- \`${entry.path}\`: ${JSON.stringify(entry.before ?? null)} → ${JSON.stringify(entry.after ?? null)}`.slice(0, 300));
  return [
    record.segmentKey
      ? `**Segment** \`${record.segmentKey}\` at version ${record.baseVersion} · **${record.kind}** · **requested by** ${record.requestedBy}${record.reason ? ` · ${record.reason}` : ''}`
      : `**Flag** \`${record.flagKey}\` at version ${record.baseVersion} · **${record.kind}** · **requested by** ${record.requestedBy}${record.reason ? ` · ${record.reason}` : ''}`,
    `**High-impact flags touched:** ${record.affectedFlags.map((key) => `\`${key}\``).join(', ') || 'none'}${record.approvers.length ? ` · **approvers** ${record.approvers.map((list) => `${list.flagKey}: ${list.anyOf.join(' | ')}`).join('; ')}` : ''}`,
    `**Expires** ${formatUtc(record.expiresAt)} · **content** \`${record.contentHash}\``,
    ...(impactSummaryOf(record) ? [`**Impact at filing** (sampled contexts): ${impactSummaryOf(record)}`] : []),
    ...(diff.length ? ['**Change:**', ...diff] : record.kind === 'rollout' ? ['**Plan:** see the input'] : []),
    `Decide from the API: POST /v1/changes/${record.id}/approve | reject (feature_flag:approve), /cancel (the requester).`,
  ].join('\n');
}

/** The AppError an approval refusal from the workflow stands for (its type is the contract's code). */
function fromUpdateFailure(error: WorkflowUpdateFailedError): AppError {
  const cause = error.cause;
  if (cause instanceof ApplicationFailure && cause.type && cause.type in ERROR_STATUS) {
    return new AppError(cause.type as ErrorCode, cause.message, cause.details?.[0] ?? undefined);
  }
  return new AppError('validation_error', cause?.message ?? error.message);
}

/**
 * Brings a pending or approved request in line with its workflow when the workflow can no longer do
 * it itself: it was terminated, or ended without recording an outcome. A request whose workflow has
 * not started yet is left to the reconciler, which starts it.
 */
export async function reconcileChangeRequest(deps: Deps, record: ChangeRequestRecord, deadline: number): Promise<ChangeRequestRecord> {
  if (record.status !== 'pending' && record.status !== 'approved') return record;
  const status = await workflowRunStatus(deps.temporal, 'describing the approval workflow', deadline, handleOf(deps, record));
  if (status === 'RUNNING') return record;
  if (status === null && awaitsStart(record)) return record;
  // Re-read: the workflow may have recorded its own end while we looked.
  const fresh = (await getChangeRequest(deps.db, record.id)) ?? record;
  if (fresh.status !== 'pending' && fresh.status !== 'approved') return fresh;
  deps.log.warn({ requestId: record.id, workflowStatus: status ?? 'gone' }, 'approval workflow ended without recording it; reconciling');
  return failChangeRequest(deps.db, record.id, {
    code: 'unavailable',
    message: status === null ? 'its approval workflow is gone' : `its approval workflow was ${status.toLowerCase().replace('_', ' ')} without recording an outcome`,
  });
}

/** `by`: the principal's actor; the workflow compares its id with the requester's. */
export type Decision =
  | { action: 'approve'; by: Actor; contentHash?: string; comment?: string }
  | { action: 'reject'; by: Actor; reason?: string }
  | { action: 'cancel'; by: Actor; reason?: string };

/**
 * Sends approve, reject or cancel to the request's workflow as an update. Its validator answers at
 * once whether the decision counts (self-approval is `permission_denied`, another content hash
 * `version_conflict`, a request no longer pending `validation_error`); then this waits for the
 * outcome (an approval's change applied or failed) and returns the request as recorded.
 */
export async function decideChangeRequest(deps: Deps, id: string, decision: Decision): Promise<ChangeRequestRecord> {
  const deadline = temporalDeadline(deps.temporal);
  const record = await getChangeRequest(deps.db, id);
  if (!record) throw new AppError('not_found', `change request "${id}" does not exist`);
  const notPending = async (): Promise<never> => {
    const current = (await getChangeRequest(deps.db, id)) ?? record;
    const fresh = await reconcileChangeRequest(deps, current, deadline).catch(() => current);
    throw new AppError('validation_error', `change request "${id}" is ${fresh.status}, not pending`, { status: fresh.status });
  };
  if (record.status !== 'pending') await notPending();
  if (awaitsStart(record)) {
    throw new AppError('unavailable', `the approval workflow of change request "${id}" has not started yet: Temporal did not answer when it was filed, and a worker starts it as soon as Temporal does; try again then`, {
      id,
      status: record.status,
    });
  }
  const handle = handleOf(deps, record);
  const decider = { by: decision.by.id, byName: decision.by.name, ...(decision.by.tokenId ? { tokenId: decision.by.tokenId } : {}) };
  const send = () => {
    switch (decision.action) {
      case 'approve':
        return handle.startUpdate(approveUpdate, {
          args: [{ ...decider, contentHash: decision.contentHash ?? record.contentHash, ...(decision.comment ? { comment: decision.comment } : {}) }],
          waitForStage: 'ACCEPTED',
        });
      case 'reject':
        return handle.startUpdate(rejectUpdate, { args: [{ ...decider, ...(decision.reason ? { reason: decision.reason } : {}) }], waitForStage: 'ACCEPTED' });
      case 'cancel':
        return handle.startUpdate(cancelUpdate, { args: [{ ...decider, ...(decision.reason ? { reason: decision.reason } : {}) }], waitForStage: 'ACCEPTED' });
    }
  };
  let update: Awaited<ReturnType<typeof send>>;
  try {
    // Accepting runs the update's validator on a worker, so a worker must answer within the bound too.
    update = await callTemporal(deps.temporal, `sending ${decision.action} to the approval workflow (is a worker running?)`, deadline, async () => {
      try {
        return await send();
      } catch (error) {
        // The workflow has closed (the request expired or was decided a moment ago).
        if (error instanceof ServiceError && /completed|closed/i.test(error.message + String(error.cause))) throw new WorkflowNotFoundError(error.message, record.workflowId, undefined);
        throw error;
      }
    });
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) throw fromUpdateFailure(error);
    if (error instanceof WorkflowNotFoundError) return notPending();
    throw error;
  }
  try {
    // A rejected update carries its outcome already: result() throws at once. An approval still
    // being applied when the bound is up is answered as recorded (approved); GET shows the rest.
    await callTemporal(deps.temporal, `waiting for the outcome of ${decision.action}`, deadline, () => update.result());
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) throw fromUpdateFailure(error);
    deps.log.warn({ err: error, requestId: id }, `waiting for the outcome of ${decision.action} failed; answering with the recorded state`);
  }
  return (await getChangeRequest(deps.db, id)) ?? record;
}
