import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Flag } from '@flagship/engine';
import { AppError, isAppError } from '../errors.ts';
import { actorNamed, type Actor } from './actor.ts';
import { auditView, canonical, getFlag, patchFlagIn, prepareStateChange, preparePatch, setFlagStateIn } from './flags.ts';
import { highImpactFlagsReachedFrom } from './high-impact-reach.ts';
import { getSegment, patchSegmentIn, prepareSegmentPatch, segmentDefinition, type StoredSegment } from './segments.ts';
import { diffJson, type JsonChange } from './json-diff.ts';
import type { DatabasePool } from './pool.ts';
import { createRolloutIn, getRollout, type RolloutRecord } from './rollouts.ts';
import { approveScheduledChangesIn } from './scheduled-changes.ts';
import { jsonbOrNull, sql, timestamp } from './sql.ts';
import { appendAudit, appendEvent, inSavepoint, inWriteTransaction, type WriteTransaction } from './write-transaction.ts';
import { rolloutWorkflowId } from '../domain/workflow-ids.ts';
import type { RolloutPlan } from '../domain/rollout-plan.ts';
import { CHANGE_KINDS, CHANGE_REQUEST_STATUSES, type ChangeFailure, type ChangeKind, type ChangeRequestStatus } from '../domain/change-request.ts';
import { assertNoRunningRollout } from './assert-no-running-rollout.ts';

const changeRow = z.object({
  id: z.string(),
  seq: z.number(),
  flag_key: z.string(),
  kind: z.enum(CHANGE_KINDS),
  change: z.record(z.string(), z.unknown()),
  content_hash: z.string(),
  base_version: z.number(),
  diff: z.array(z.unknown()).nullable(),
  status: z.enum(CHANGE_REQUEST_STATUSES),
  requested_by: z.string(),
  reason: z.string().nullable(),
  expires_at: z.number(),
  workflow_id: z.string(),
  run_id: z.string().nullable(),
  decided_by: z.string().nullable(),
  decided_at: z.number().nullable(),
  decision_comment: z.string().nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  failure: z.record(z.string(), z.unknown()).nullable(),
  created_at: z.number(),
  updated_at: z.number(),
  finished_at: z.number().nullable(),
  segment_key: z.string().nullable(),
  affected_flags: z.array(z.string()),
  approvers: z.array(z.object({ flagKey: z.string(), anyOf: z.array(z.string()) })),
  impact: z.record(z.string(), z.unknown()).nullable(),
});
type ChangeRow = z.infer<typeof changeRow>;

const CHANGE_COLUMNS = sql.fragment`id, seq, flag_key, kind, change, content_hash, base_version, diff, status, requested_by, reason,
  expires_at, workflow_id, run_id, decided_by, decided_at, decision_comment, result, failure, created_at, updated_at, finished_at,
  segment_key, affected_flags, approvers, impact`;

export interface ChangeRequestRecord {
  id: string;
  seq: number;
  flagKey: string;
  kind: ChangeKind;
  change: Record<string, unknown>;
  contentHash: string;
  baseVersion: number;
  diff: JsonChange[] | null;
  status: ChangeRequestStatus;
  requestedBy: string;
  reason: string | null;
  expiresAt: number;
  workflowId: string;
  runId: string | null;
  decidedBy: string | null;
  decidedAt: number | null;
  decisionComment: string | null;
  result: { flagVersion?: number | null; rolloutId?: string; segmentVersion?: number } | null;
  failure: ChangeFailure | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  /** A segment patch's segment (its `flagKey` is the first high-impact flag it touches). */
  segmentKey: string | null;
  /** Every high-impact flag whose answers the change may alter, when it was filed. */
  affectedFlags: string[];
  /** Who may approve, for each touched flag that narrows it; an approver must fit every list. */
  approvers: ApproverList[];
  /** Its impact over the sampled contexts when it was filed (docs/impact-preview.md); null when none could be computed. */
  impact: Record<string, unknown> | null;
}

/** A flag's `approvers` as a request records them when it is filed. */
export interface ApproverList {
  flagKey: string;
  anyOf: string[];
}

function toRecord(row: ChangeRow): ChangeRequestRecord {
  return {
    id: row.id,
    seq: row.seq,
    flagKey: row.flag_key,
    kind: row.kind,
    change: row.change,
    contentHash: row.content_hash,
    baseVersion: row.base_version,
    diff: row.diff as JsonChange[] | null,
    status: row.status,
    requestedBy: row.requested_by,
    reason: row.reason,
    expiresAt: row.expires_at,
    workflowId: row.workflow_id,
    runId: row.run_id,
    decidedBy: row.decided_by,
    decidedAt: row.decided_at,
    decisionComment: row.decision_comment,
    result: row.result as ChangeRequestRecord['result'],
    failure: row.failure as ChangeFailure | null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    segmentKey: row.segment_key,
    affectedFlags: row.affected_flags,
    approvers: row.approvers,
    impact: row.impact,
  };
}

export interface ChangeContent {
  kind: ChangeKind;
  flagKey: string;
  baseVersion: number;
  change: Record<string, unknown>;
}

/**
 * What an approval binds to: sha256 over the canonical JSON (keys sorted) of the kind, the flag, the
 * base version and the change. The same content always gives the same hash, whatever its key order.
 */
function changeContentHash(content: ChangeContent): string {
  const document = JSON.stringify(canonical({ kind: content.kind, flagKey: content.flagKey, baseVersion: content.baseVersion, change: content.change }));
  return `sha256:${createHash('sha256').update(document).digest('hex')}`;
}

export async function getChangeRequest(db: DatabasePool | WriteTransaction, id: string): Promise<ChangeRequestRecord | null> {
  const row = await db.maybeOne(sql.type(changeRow)`SELECT ${CHANGE_COLUMNS} FROM change_requests WHERE id = ${id}`);
  return row ? toRecord(row) : null;
}

async function lockedChangeRequest(tx: WriteTransaction, id: string): Promise<ChangeRequestRecord> {
  const row = await tx.maybeOne(sql.type(changeRow)`SELECT ${CHANGE_COLUMNS} FROM change_requests WHERE id = ${id} FOR UPDATE`);
  if (!row) throw new AppError('not_found', `change request "${id}" does not exist`);
  return toRecord(row);
}

export interface ChangeRequestQuery {
  statuses?: readonly ChangeRequestStatus[];
  flagKey?: string;
  requestedBy?: string;
  /** The seq of the last item of the previous page (pages go newest first). */
  before?: number;
  limit: number;
}

/** A page of change requests, newest first. */
export async function listChangeRequests(db: DatabasePool, query: ChangeRequestQuery): Promise<{ items: ChangeRequestRecord[]; nextBefore: number | null }> {
  const filters = [
    query.statuses?.length ? sql.fragment`status = ANY(${sql.array([...query.statuses], 'text')})` : null,
    // A request touching the flag through a segment or a prerequisite is one of its requests too.
    query.flagKey ? sql.fragment`(flag_key = ${query.flagKey} OR affected_flags @> ${sql.array([query.flagKey], 'text')})` : null,
    query.requestedBy ? sql.fragment`requested_by = ${query.requestedBy}` : null,
    query.before ? sql.fragment`seq < ${query.before}` : null,
  ].filter((filter) => filter !== null);
  const where = filters.length ? sql.fragment`WHERE ${sql.join(filters, sql.fragment` AND `)}` : sql.fragment``;
  const rows = await db.any(sql.type(changeRow)`
    SELECT ${CHANGE_COLUMNS} FROM change_requests ${where} ORDER BY seq DESC LIMIT ${query.limit + 1}`);
  const items = rows.slice(0, query.limit).map(toRecord);
  return { items, nextBefore: rows.length > query.limit ? (items.at(-1)?.seq ?? null) : null };
}

/** Pending requests whose approval workflow has not started (Temporal did not answer when they were filed). */
export async function changeRequestsAwaitingStart(db: DatabasePool, olderThanMs: number): Promise<ChangeRequestRecord[]> {
  const rows = await db.any(sql.type(changeRow)`
    SELECT ${CHANGE_COLUMNS} FROM change_requests
    WHERE status = 'pending' AND run_id IS NULL AND created_at < now() - make_interval(secs => ${olderThanMs / 1000})
    ORDER BY seq LIMIT 100`);
  return rows.map(toRecord);
}

function eventPayload(record: ChangeRequestRecord, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    requestId: record.id,
    flagKey: record.flagKey,
    kind: record.kind,
    status: record.status,
    baseVersion: record.baseVersion,
    contentHash: record.contentHash,
    requestedBy: record.requestedBy,
    reason: record.reason,
    expiresAt: new Date(record.expiresAt).toISOString(),
    affectedFlags: record.affectedFlags,
    ...(record.segmentKey ? { segmentKey: record.segmentKey } : {}),
    ...extra,
  };
}

export interface NewChangeRequest {
  id: string;
  kind: ChangeKind;
  /** The flag changed; for a segment patch, ignored (the request is filed under the first high-impact flag it touches). */
  flagKey: string;
  /** A segment patch's segment. */
  segmentKey?: string;
  change: Record<string, unknown>;
  baseVersion: number;
  reason?: string;
  expiresAt: number;
  workflowId: string;
  /** Who asks (with the token they asked with): their id is the request's `requestedBy`. */
  requester: Actor;
  /** Further checks of the change against the flag under the write lock (a rollout plan's validation); throws to refuse. */
  check?: (flag: Flag) => void;
  /**
   * For kind `schedule`: checks the changes and writes what waits for the approval (the scheduled
   * changes, pending) in the request's transaction; returns the diff the reviewer sees.
   */
  prepare?: (tx: WriteTransaction, flag: Flag) => Promise<JsonChange[]>;
}

/**
 * Files a change request: under the write lock, the change is checked against the flag at its base
 * version exactly as applying it would be (nothing is written to the flag), and the request, its
 * audit entry and `change.requested` commit together. A change that could never apply is refused
 * now, with the error applying it would give.
 */
export async function createChangeRequest(db: DatabasePool, input: NewChangeRequest): Promise<ChangeRequestRecord> {
  return inWriteTransaction(db, async (tx) => {
    const { flagKey, diff, affected } = input.kind === 'segment-patch' ? await checkSegmentPatch(tx, input) : await checkFlagChange(tx, input);
    const approvers: ApproverList[] = affected.flatMap((flag) => (flag.approvers?.length ? [{ flagKey: flag.key, anyOf: flag.approvers }] : []));
    const contentHash = changeContentHash({ ...input, flagKey });
    const row = await tx.one(sql.type(changeRow)`
      INSERT INTO change_requests (id, flag_key, kind, change, content_hash, base_version, diff, status, requested_by, reason, expires_at, workflow_id,
                                   segment_key, affected_flags, approvers)
      VALUES (${input.id}, ${flagKey}, ${input.kind}, ${sql.jsonb(input.change as object)}, ${contentHash}, ${input.baseVersion},
              ${jsonbOrNull(diff)}, 'pending', ${input.requester.id}, ${input.reason ?? null}, ${timestamp(input.expiresAt)}, ${input.workflowId},
              ${input.kind === 'segment-patch' ? input.segmentKey! : null}, ${sql.array(affected.map((flag) => flag.key), 'text')}, ${sql.jsonb(approvers as unknown as object)})
      RETURNING ${CHANGE_COLUMNS}`);
    const record = toRecord(row);
    await appendAudit(tx, {
      actor: input.requester,
      action: 'change_request.requested',
      entityType: 'change_request',
      entityKey: record.id,
      before: null,
      after: {
        flagKey: record.flagKey,
        ...(record.segmentKey ? { segmentKey: record.segmentKey } : {}),
        kind: record.kind,
        change: record.change,
        baseVersion: record.baseVersion,
        contentHash,
        affectedFlags: record.affectedFlags,
        approvers,
        reason: record.reason,
        expiresAt: new Date(record.expiresAt).toISOString(),
      },
    });
    await appendEvent(tx, { type: 'change.requested', entityKey: record.id, payload: eventPayload(record, { change: record.change, diff, approvers }) });
    return record;
  });
}

/** A flag change's checks at filing (those of applying it, without writing), and the high-impact flags it touches. */
async function checkFlagChange(tx: WriteTransaction, input: NewChangeRequest): Promise<{ flagKey: string; diff: JsonChange[] | null; affected: Flag[] }> {
  const flag = await getFlag(tx, input.flagKey);
  if (!flag) throw new AppError('not_found', `flag "${input.flagKey}" does not exist`);
  if (flag.version !== input.baseVersion) {
    throw new AppError('version_conflict', `flag "${input.flagKey}" is at version ${flag.version}, not ${input.baseVersion}`, { currentVersion: flag.version });
  }
  let diff: JsonChange[] | null = null;
  let marksItself = false;
  if (input.kind === 'patch') {
    const { current, definition } = await preparePatch(tx, input.flagKey, patchOf(input.change), input.baseVersion);
    if (!definition) throw new AppError('validation_error', `the patch changes nothing on flag "${input.flagKey}"`);
    diff = diffJson(auditView(current), { ...definition, state: current.state });
    marksItself = definition.highImpact !== current.highImpact;
  } else if (input.kind === 'archive' || input.kind === 'restore') {
    const target = input.kind === 'archive' ? 'archived' : 'active';
    const current = await prepareStateChange(tx, input.flagKey, target, input.baseVersion);
    diff = [{ path: 'state', before: current.state, after: target }];
  } else if (input.kind === 'schedule') {
    if (!input.prepare) throw new Error('a schedule change request is filed with its prepare step');
    diff = await input.prepare(tx, flag);
  } else {
    if (flag.state !== 'active') throw new AppError('not_found', `flag "${input.flagKey}" is archived`);
    await assertNoRunningRollout(tx, input.flagKey);
  }
  input.check?.(flag);
  const affected = await highImpactFlagsReachedFrom(tx, [input.flagKey]);
  // Setting or removing the mark touches the flag itself, high-impact or not yet; so does restoring one.
  if ((marksItself || flag.highImpact) && !affected.some((reached) => reached.key === flag.key)) affected.unshift(flag);
  return { flagKey: input.flagKey, diff, affected };
}

/** A segment patch's checks at filing; it is filed under the first high-impact flag it touches. */
async function checkSegmentPatch(tx: WriteTransaction, input: NewChangeRequest): Promise<{ flagKey: string; diff: JsonChange[] | null; affected: Flag[] }> {
  const segmentKey = input.segmentKey;
  if (!segmentKey) throw new AppError('validation_error', 'a segment-patch change request needs a segment');
  const { current, definition, users } = await prepareSegmentPatch(tx, segmentKey, patchOf(input.change), input.baseVersion);
  if (!definition) throw new AppError('validation_error', `the patch changes nothing on segment "${segmentKey}"`);
  const affected = await highImpactFlagsReachedFrom(tx, users.map((flag) => flag.key));
  const [first] = affected;
  if (!first) throw new AppError('validation_error', `segment "${segmentKey}" no longer reaches a high-impact flag: change it directly`);
  return { flagKey: first.key, diff: diffJson(segmentDefinition(current) as unknown as Record<string, unknown>, definition as unknown as Record<string, unknown>), affected };
}

function patchOf(change: Record<string, unknown>): Record<string, unknown> {
  const patch = change.patch;
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new AppError('validation_error', 'a patch change request needs a "patch" object');
  return patch as Record<string, unknown>;
}

/** Records the run id of the approval workflow the API started. */
/** Bookkeeping, like the run id: the impact computed when the request was filed, which no approval binds to. */
export async function setChangeRequestImpact(db: DatabasePool, id: string, impact: Record<string, unknown>): Promise<void> {
  await db.query(sql.typeAlias('void')`UPDATE change_requests SET impact = ${sql.jsonb(impact as object)} WHERE id = ${id}`);
}

export async function setChangeRequestRunId(db: DatabasePool, id: string, runId: string): Promise<void> {
  await db.query(sql.typeAlias('void')`UPDATE change_requests SET run_id = coalesce(run_id, ${runId}) WHERE id = ${id}`);
}

export interface DecisionInput {
  requestId: string;
  status: 'approved' | 'rejected' | 'cancelled' | 'expired';
  /** Who decided (their id); null for expiry (the workflow's timer). */
  by: string | null;
  /** The decider's readable name and the token they decided with, when the API sent them. */
  byName?: string;
  tokenId?: string;
  comment?: string | null;
}

/**
 * Records the workflow's decision on a pending request with its audit entry (the decider is the
 * actor) and event (`change.approved`, `change.rejected`, `change.cancelled`, `change.expired`).
 * Idempotent: a retried activity finds the status already recorded and writes nothing.
 */
export async function recordChangeDecision(db: DatabasePool, input: DecisionInput): Promise<ChangeRequestRecord> {
  return inWriteTransaction(db, async (tx) => {
    const before = await lockedChangeRequest(tx, input.requestId);
    if (before.status === input.status) return before;
    if (before.status !== 'pending') {
      throw new AppError('validation_error', `change request "${input.requestId}" is ${before.status}, not pending; it cannot become ${input.status}`);
    }
    const final = input.status !== 'approved';
    const row = await tx.one(sql.type(changeRow)`
      UPDATE change_requests SET status = ${input.status}, decided_by = ${input.by}, decided_at = ${input.by ? sql.fragment`now()` : null},
        decision_comment = ${input.comment ?? null}, updated_at = now(), finished_at = ${final ? sql.fragment`now()` : null}
      WHERE id = ${input.requestId} RETURNING ${CHANGE_COLUMNS}`);
    const record = toRecord(row);
    await appendAudit(tx, {
      actor: input.by ? { id: input.by, name: input.byName ?? input.by, tokenId: input.tokenId ?? null } : actorNamed(record.workflowId),
      action: `change_request.${input.status}`,
      entityType: 'change_request',
      entityKey: record.id,
      before: { status: before.status },
      after: { status: record.status, flagKey: record.flagKey, requestedBy: record.requestedBy, contentHash: record.contentHash, comment: input.comment ?? null },
    });
    await appendEvent(tx, { type: `change.${input.status}`, entityKey: record.id, payload: eventPayload(record, { by: input.by, comment: input.comment ?? null }) });
    return record;
  });
}

/** A rollout plan's normalisation at approval time (target times count from then); see api/rollout-plan.ts. */
export type PlanRollout = (plan: Record<string, unknown>, flag: Flag, now: number) => RolloutPlan;

export interface ApplyChangeInput {
  requestId: string;
  approvedBy: string;
  /** The hash the approval bound to; the stored change must still have it. */
  contentHash: string;
}

export type ApplyChangeOutcome =
  | ({ status: 'applied' } & Applied)
  | { status: 'failed'; failure: ChangeFailure };

/**
 * Applies an approved change through the normal write path, onto its base version, in one
 * transaction with the request's outcome: the flag's next version and its audit entry naming both
 * people (the requester as actor, the approver as approver), `change.applied`, or, when the flag
 * moved or the change no longer fits, nothing on the flag and the request `failed` with the
 * contract's code (`version_conflict`…) and `change.failed`. Idempotent: a retried activity gets the
 * recorded outcome back.
 */
export async function applyChangeRequest(db: DatabasePool, input: ApplyChangeInput, planRollout: PlanRollout): Promise<ApplyChangeOutcome> {
  return inWriteTransaction(db, async (tx) => {
    const request = await lockedChangeRequest(tx, input.requestId);
    if (request.status === 'applied') return { status: 'applied', ...(await appliedResult(tx, request)) };
    if (request.status === 'failed' && request.failure) return { status: 'failed', failure: request.failure };
    if (request.status !== 'approved') throw new AppError('validation_error', `change request "${request.id}" is ${request.status}, not approved`);
    if (request.decidedBy !== input.approvedBy) throw new AppError('validation_error', `change request "${request.id}" was approved by ${request.decidedBy ?? 'nobody'}, not ${input.approvedBy}`);
    if (changeContentHash(request) !== request.contentHash || request.contentHash !== input.contentHash) {
      return { status: 'failed', failure: await recordFailure(tx, request, { code: 'validation_error', message: 'the stored change is not the content that was approved (its hash differs); nothing was applied' }) };
    }
    let applied: Applied;
    try {
      // A savepoint: a refused change rolls back alone, and the failure is recorded in this transaction.
      applied = await inSavepoint(tx, (savepoint) => applyInside(savepoint, request, input.approvedBy, planRollout));
    } catch (error) {
      if (!isAppError(error) || error.code === 'unavailable' || error.code === 'internal') throw error;
      return { status: 'failed', failure: await recordFailure(tx, request, { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) }) };
    }
    const result = applied.rollout ? { rolloutId: applied.rollout.id } : applied.segment ? { segmentVersion: applied.segment.version } : { flagVersion: applied.flag?.version ?? null };
    const row = await tx.one(sql.type(changeRow)`
      UPDATE change_requests SET status = 'applied', result = ${sql.jsonb(result)}, updated_at = now(), finished_at = now()
      WHERE id = ${request.id} RETURNING ${CHANGE_COLUMNS}`);
    const record = toRecord(row);
    await appendAudit(tx, {
      actor: actorNamed(record.requestedBy),
      approver: input.approvedBy,
      action: 'change_request.applied',
      entityType: 'change_request',
      entityKey: record.id,
      before: { status: 'approved' },
      after: { status: 'applied', flagKey: record.flagKey, contentHash: record.contentHash, ...result },
    });
    await appendEvent(tx, { type: 'change.applied', entityKey: record.id, payload: eventPayload(record, { approvedBy: input.approvedBy, ...result }) });
    return { status: 'applied', ...applied };
  });
}

async function applyInside(tx: WriteTransaction, request: ChangeRequestRecord, approver: string, planRollout: PlanRollout): Promise<Applied> {
  const options = { actor: actorNamed(request.requestedBy), approver };
  switch (request.kind) {
    case 'segment-patch':
      return { flag: null, rollout: null, segment: await patchSegmentIn(tx, request.segmentKey!, patchOf(request.change), request.baseVersion, options) };
    case 'patch':
      return { flag: await patchFlagIn(tx, request.flagKey, patchOf(request.change), request.baseVersion, options), rollout: null };
    case 'archive':
    case 'restore':
      return { flag: await setFlagStateIn(tx, request.flagKey, request.kind === 'archive' ? 'archived' : 'active', request.baseVersion, options), rollout: null };
    case 'schedule':
      // Approval is given when the change is scheduled; the flag is changed when it fires.
      await approveScheduledChangesIn(tx, request, approver);
      return { flag: null, rollout: null };
    case 'rollout': {
      const flag = await getFlag(tx, request.flagKey);
      if (!flag) throw new AppError('not_found', `flag "${request.flagKey}" does not exist`);
      if (flag.version !== request.baseVersion) {
        throw new AppError('version_conflict', `flag "${request.flagKey}" is at version ${flag.version}, not ${request.baseVersion}`, { currentVersion: flag.version });
      }
      const plan = request.change.plan as Record<string, unknown>;
      const rollout = await createRolloutIn(tx, {
        id: rolloutIdFor(request.id),
        flagKey: request.flagKey,
        workflowId: rolloutWorkflowId(request.flagKey),
        startedBy: request.requestedBy,
        approver,
        ...(request.reason ? { reason: request.reason } : {}),
        // Target times count from the approval, not from the request.
        plan: (current) => planRollout(plan, current, Date.now()),
      });
      return { flag: null, rollout };
    }
  }
}

/** The rollout an approved plan starts is named after its request, so a retried activity finds it. */
function rolloutIdFor(requestId: string): string {
  return `ro_${requestId.replace(/^cr_/, '')}`;
}

/** What applying produced: the flag's next version, a started rollout, or the segment's next version. */
interface Applied {
  flag: Flag | null;
  rollout: RolloutRecord | null;
  segment?: StoredSegment;
}

async function appliedResult(tx: WriteTransaction, request: ChangeRequestRecord): Promise<Applied> {
  if (request.result?.rolloutId) return { flag: null, rollout: await getRollout(tx, request.result.rolloutId) };
  if (request.kind === 'segment-patch') return { flag: null, rollout: null, ...(await segmentOf(tx, request.segmentKey)) };
  return { flag: await getFlag(tx, request.flagKey), rollout: null };
}

async function segmentOf(tx: WriteTransaction, key: string | null): Promise<{ segment?: StoredSegment }> {
  const segment = key ? await getSegment(tx, key) : null;
  return segment ? { segment } : {};
}

async function recordFailure(tx: WriteTransaction, request: ChangeRequestRecord, failure: ChangeFailure): Promise<ChangeFailure> {
  await tx.query(sql.typeAlias('void')`
    UPDATE change_requests SET status = 'failed', failure = ${sql.jsonb(failure as unknown as object)}, updated_at = now(), finished_at = now()
    WHERE id = ${request.id}`);
  await appendAudit(tx, {
    actor: actorNamed(request.requestedBy),
    ...(request.decidedBy ? { approver: request.decidedBy } : {}),
    action: 'change_request.failed',
    entityType: 'change_request',
    entityKey: request.id,
    before: { status: request.status },
    after: { status: 'failed', flagKey: request.flagKey, failure },
  });
  await appendEvent(tx, { type: 'change.failed', entityKey: request.id, payload: eventPayload({ ...request, status: 'failed' }, { approvedBy: request.decidedBy, failure }) });
  return failure;
}

/**
 * Marks a request failed from outside its happy path: its workflow never started or was terminated,
 * or an approved plan's rollout workflow could not start. A request already ended is left alone,
 * except that an applied plan whose rollout never started becomes failed. Idempotent.
 */
export async function failChangeRequest(db: DatabasePool, requestId: string, failure: ChangeFailure): Promise<ChangeRequestRecord> {
  return inWriteTransaction(db, async (tx) => {
    const request = await lockedChangeRequest(tx, requestId);
    const open = request.status === 'pending' || request.status === 'approved' || (request.status === 'applied' && request.kind === 'rollout');
    if (!open) return request;
    await recordFailure(tx, request, failure);
    return (await getChangeRequest(tx, requestId)) ?? request;
  });
}
