import { z } from 'zod';
import type { Flag, FlagDefinition } from '@flagship/engine';
import { AppError, isAppError } from '../errors.ts';
import { actorNamed, type Actor } from './actor.ts';
import { assertPatchable, canonical, checkAgainstWorld, getFlag, mergePatch, patchFlagIn } from './flags.ts';
import { highImpactFlagsReachedFrom } from './high-impact-reach.ts';
import { diffJson, type JsonChange } from './json-diff.ts';
import type { DatabasePool } from './pool.ts';
import { sql, timestamp } from './sql.ts';
import { appendAudit, appendEvent, inSavepoint, inWriteTransaction, type WriteTransaction } from './write-transaction.ts';
import { definitionOf } from '../domain/definition-of.ts';
import { assertNoRunningRollout } from './assert-no-running-rollout.ts';

export const SCHEDULED_CHANGE_STATUSES = ['pending_approval', 'scheduled', 'applied', 'failed', 'cancelled'] as const;
export type ScheduledChangeStatus = (typeof SCHEDULED_CHANGE_STATUSES)[number];
const OPEN_STATUSES: readonly ScheduledChangeStatus[] = ['pending_approval', 'scheduled'];

/**
 * A change fires when its workflow's timer does; the worker's clock may lag the server's by a
 * little. A change whose time is further away than this has been moved later, and waits again.
 */
const EARLY_FIRE_TOLERANCE_MS = 1_000;

const scheduledRow = z.object({
  id: z.string(),
  seq: z.number(),
  flag_key: z.string(),
  patch: z.record(z.string(), z.unknown()),
  base_version: z.number(),
  expected: z.record(z.string(), z.unknown()),
  run_at: z.number(),
  status: z.enum(SCHEDULED_CHANGE_STATUSES),
  created_by: z.string(),
  reason: z.string().nullable(),
  change_request_id: z.string().nullable(),
  approved_by: z.string().nullable(),
  workflow_id: z.string(),
  result: z.record(z.string(), z.unknown()).nullable(),
  failure: z.record(z.string(), z.unknown()).nullable(),
  created_at: z.number(),
  updated_at: z.number(),
  finished_at: z.number().nullable(),
});
type ScheduledRow = z.infer<typeof scheduledRow>;

const COLUMNS = sql.fragment`id, seq, flag_key, patch, base_version, expected, run_at, status, created_by, reason, change_request_id,
  approved_by, workflow_id, result, failure, created_at, updated_at, finished_at`;

export interface ScheduledChangeFailure {
  code: string;
  message: string;
  details?: unknown;
}

export interface ScheduledChangeRecord {
  id: string;
  seq: number;
  flagKey: string;
  patch: Record<string, unknown>;
  baseVersion: number;
  expected: Record<string, unknown>;
  runAt: number;
  status: ScheduledChangeStatus;
  createdBy: string;
  reason: string | null;
  changeRequestId: string | null;
  approvedBy: string | null;
  workflowId: string;
  result: { flagVersion: number; rebasedFrom?: number } | null;
  failure: ScheduledChangeFailure | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

function toRecord(row: ScheduledRow): ScheduledChangeRecord {
  return {
    id: row.id,
    seq: row.seq,
    flagKey: row.flag_key,
    patch: row.patch,
    baseVersion: row.base_version,
    expected: row.expected,
    runAt: row.run_at,
    status: row.status,
    createdBy: row.created_by,
    reason: row.reason,
    changeRequestId: row.change_request_id,
    approvedBy: row.approved_by,
    workflowId: row.workflow_id,
    result: row.result as ScheduledChangeRecord['result'],
    failure: row.failure as ScheduledChangeFailure | null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

export function isOpen(record: Pick<ScheduledChangeRecord, 'status'>): boolean {
  return OPEN_STATUSES.includes(record.status);
}

export async function getScheduledChange(db: DatabasePool | WriteTransaction, id: string): Promise<ScheduledChangeRecord | null> {
  const row = await db.maybeOne(sql.type(scheduledRow)`SELECT ${COLUMNS} FROM scheduled_changes WHERE id = ${id}`);
  return row ? toRecord(row) : null;
}

async function locked(tx: WriteTransaction, id: string): Promise<ScheduledChangeRecord> {
  const row = await tx.maybeOne(sql.type(scheduledRow)`SELECT ${COLUMNS} FROM scheduled_changes WHERE id = ${id} FOR UPDATE`);
  if (!row) throw new AppError('not_found', `scheduled change "${id}" does not exist`);
  return toRecord(row);
}

/** A flag's scheduled changes in the given states (all when none), by time. */
export async function listScheduledChanges(db: DatabasePool, query: { flagKey: string; statuses?: readonly ScheduledChangeStatus[]; limit: number }): Promise<ScheduledChangeRecord[]> {
  const statusFilter = query.statuses?.length ? sql.fragment`AND status = ANY(${sql.array([...query.statuses], 'text')})` : sql.fragment``;
  const rows = await db.any(sql.type(scheduledRow)`
    SELECT ${COLUMNS} FROM scheduled_changes WHERE flag_key = ${query.flagKey} ${statusFilter} ORDER BY run_at, seq LIMIT ${query.limit}`);
  return rows.map(toRecord);
}

export interface PlannedChange {
  id: string;
  runAt: number;
  patch: Record<string, unknown>;
}

export interface ScheduleInput {
  flagKey: string;
  /** The version the changes are scheduled against (If-Match). */
  baseVersion: number;
  changes: readonly PlannedChange[];
  requester: Actor;
  reason?: string;
  workflowIdOf: (id: string) => string;
}

/**
 * Checks the changes in time order against the flag at its base version, each onto what the earlier
 * ones leave, exactly as applying them now would (valid definition, references, prerequisite loops,
 * a running rollout), and works out what each expects to find. Returns the diff a reviewer sees.
 */
async function planIn(tx: WriteTransaction, flag: Flag, input: ScheduleInput): Promise<{ expected: Record<string, unknown>[]; diff: JsonChange[] }> {
  if (flag.state !== 'active') throw new AppError('validation_error', `flag "${flag.key}" is archived; restore it before scheduling changes`);
  if (flag.version !== input.baseVersion) {
    throw new AppError('version_conflict', `flag "${flag.key}" is at version ${flag.version}, not ${input.baseVersion}`, { currentVersion: flag.version });
  }
  const start = definitionOf(flag);
  let definition: FlagDefinition = start;
  const expected: Record<string, unknown>[] = [];
  for (const [index, change] of [...input.changes].sort((a, b) => a.runAt - b.runAt).entries()) {
    try {
      assertPatchable(flag.key, change.patch);
      const next = mergePatch(definition, change.patch);
      if (JSON.stringify(canonical(next)) === JSON.stringify(canonical(definition))) throw new AppError('validation_error', 'the patch changes nothing');
      if (JSON.stringify(canonical(next.rollout ?? null)) !== JSON.stringify(canonical(definition.rollout ?? null))) await assertNoRunningRollout(tx, flag.key);
      await checkAgainstWorld(tx, next);
      expected.push(expectedValues(definition, change.patch));
      definition = next;
    } catch (error) {
      if (!isAppError(error) || input.changes.length === 1) throw error;
      throw new AppError(error.code, `changes[${index}]: ${error.message}`, error.details);
    }
  }
  return { expected, diff: diffJson(start, definition) };
}

/** The values of the fields a patch sets, as `definition` holds them (null: absent). */
function expectedValues(definition: FlagDefinition, patch: Record<string, unknown>): Record<string, unknown> {
  const fields = definition as unknown as Record<string, unknown>;
  return Object.fromEntries(Object.keys(patch).map((field) => [field, fields[field] ?? null]));
}

/**
 * Schedules the changes: under the write lock, checks them (see planIn), and commits their rows,
 * an audit entry and a `scheduled_change.created` event each. `guard` sees the flag and the
 * patches first and may refuse (a high-impact flag's changes need approval).
 */
export async function scheduleChanges(db: DatabasePool, input: ScheduleInput, guard?: (flag: Flag, patches: readonly Record<string, unknown>[], tx: WriteTransaction) => void | Promise<void>): Promise<ScheduledChangeRecord[]> {
  return inWriteTransaction(db, async (tx) => {
    const flag = await getFlag(tx, input.flagKey);
    if (!flag) throw new AppError('not_found', `flag "${input.flagKey}" does not exist`);
    await guard?.(flag, input.changes.map((change) => change.patch), tx);
    return scheduleChangesIn(tx, flag, input, { status: 'scheduled' });
  });
}

/**
 * `scheduleChanges` inside a transaction the caller holds: a change request files a high-impact
 * flag's changes this way, as `pending_approval` under its id. Returns the diff of all the changes.
 */
export async function scheduleChangesIn(
  tx: WriteTransaction,
  flag: Flag,
  input: ScheduleInput,
  options: { status: 'scheduled' } | { status: 'pending_approval'; changeRequestId: string },
): Promise<ScheduledChangeRecord[]> {
  const { expected } = await planIn(tx, flag, input);
  const ordered = [...input.changes].sort((a, b) => a.runAt - b.runAt);
  const records: ScheduledChangeRecord[] = [];
  for (const [index, change] of ordered.entries()) {
    const row = await tx.one(sql.type(scheduledRow)`
      INSERT INTO scheduled_changes (id, flag_key, patch, base_version, expected, run_at, status, created_by, reason, change_request_id, workflow_id)
      VALUES (${change.id}, ${flag.key}, ${sql.jsonb(change.patch as object)}, ${input.baseVersion}, ${sql.jsonb((expected[index] ?? {}) as object)},
              ${timestamp(change.runAt)}, ${options.status}, ${input.requester.id}, ${input.reason ?? null},
              ${options.status === 'pending_approval' ? options.changeRequestId : null}, ${input.workflowIdOf(change.id)})
      RETURNING ${COLUMNS}`);
    const record = toRecord(row);
    await appendAudit(tx, {
      actor: input.requester,
      action: 'scheduled_change.created',
      entityType: 'scheduled_change',
      entityKey: record.id,
      version: record.baseVersion,
      before: null,
      after: auditAfter(record),
    });
    await appendEvent(tx, { type: 'scheduled_change.created', entityKey: flag.key, payload: eventPayload(record) });
    records.push(record);
  }
  return records;
}

/** What a reviewer of a high-impact flag's scheduled changes sees: every field the changes move, from the flag as it is to what they leave. */
export async function scheduleDiff(tx: WriteTransaction, flag: Flag, input: ScheduleInput): Promise<JsonChange[]> {
  return (await planIn(tx, flag, input)).diff;
}

function auditAfter(record: ScheduledChangeRecord): Record<string, unknown> {
  return {
    flagKey: record.flagKey,
    status: record.status,
    at: new Date(record.runAt).toISOString(),
    patch: record.patch,
    baseVersion: record.baseVersion,
    ...(record.changeRequestId ? { changeRequestId: record.changeRequestId } : {}),
    ...(record.result ? { result: record.result } : {}),
    ...(record.failure ? { failure: record.failure } : {}),
  };
}

function eventPayload(record: ScheduledChangeRecord, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    scheduledChangeId: record.id,
    flagKey: record.flagKey,
    status: record.status,
    at: new Date(record.runAt).toISOString(),
    baseVersion: record.baseVersion,
    patch: record.patch,
    createdBy: record.createdBy,
    reason: record.reason,
    ...extra,
  };
}

async function finish(
  tx: WriteTransaction,
  before: ScheduledChangeRecord,
  outcome: { status: 'applied'; result: NonNullable<ScheduledChangeRecord['result']> } | { status: 'failed'; failure: ScheduledChangeFailure } | { status: 'cancelled'; by: Actor; reason: string | null },
): Promise<ScheduledChangeRecord> {
  const row = await tx.one(sql.type(scheduledRow)`
    UPDATE scheduled_changes SET status = ${outcome.status},
      result = ${outcome.status === 'applied' ? sql.jsonb(outcome.result) : null},
      failure = ${outcome.status === 'failed' ? sql.jsonb(outcome.failure as unknown as object) : null},
      updated_at = now(), finished_at = now()
    WHERE id = ${before.id} RETURNING ${COLUMNS}`);
  const record = toRecord(row);
  await appendAudit(tx, {
    actor: outcome.status === 'cancelled' ? outcome.by : actorNamed(record.createdBy),
    ...(record.approvedBy && outcome.status !== 'cancelled' ? { approver: record.approvedBy } : {}),
    action: `scheduled_change.${outcome.status}`,
    entityType: 'scheduled_change',
    entityKey: record.id,
    before: { status: before.status },
    after: auditAfter(record),
  });
  await appendEvent(tx, {
    type: `scheduled_change.${outcome.status}`,
    entityKey: record.flagKey,
    payload: eventPayload(record, outcome.status === 'applied' ? outcome.result : outcome.status === 'failed' ? { failure: outcome.failure } : { by: outcome.by.id, comment: outcome.reason }),
  });
  return record;
}

export type FireOutcome =
  | { status: 'waiting'; runAt: number }
  | { status: 'applied'; flagVersion: number; rebasedFrom?: number }
  | { status: 'failed'; failure: ScheduledChangeFailure }
  | { status: 'cancelled' };

/**
 * Applies a scheduled change whose time has come, through the normal write path, in one transaction
 * with its outcome. The version check is a re-base: when the flag has moved since the base version,
 * the change still applies if every field it sets still holds what it expected (the value at the
 * base version, or what the earlier changes of its request left) or already its own new value;
 * otherwise nothing is written and
 * the change fails with `version_conflict`, naming the fields, and `scheduled_change.failed` is
 * emitted. Idempotent: a retried activity gets the recorded outcome back.
 */
export async function fireScheduledChange(db: DatabasePool, id: string, now: number): Promise<FireOutcome> {
  return inWriteTransaction(db, async (tx) => {
    const change = await locked(tx, id);
    const recorded = recordedOutcome(change);
    if (recorded) return recorded;
    if (change.runAt - now > EARLY_FIRE_TOLERANCE_MS) return { status: 'waiting', runAt: change.runAt };
    const fail = async (failure: ScheduledChangeFailure): Promise<FireOutcome> => {
      await finish(tx, change, { status: 'failed', failure });
      return { status: 'failed', failure };
    };
    if (change.status === 'pending_approval') {
      return fail({ code: 'approval_required', message: `the change was not approved by its time (change request ${change.changeRequestId ?? '?'}); nothing was applied`, details: { changeRequestId: change.changeRequestId } });
    }
    const current = await getFlag(tx, change.flagKey);
    if (!current || current.state !== 'active') return fail({ code: 'not_found', message: `flag "${change.flagKey}" is ${current ? 'archived' : 'gone'}; nothing was applied` });
    const fields = current as unknown as Record<string, unknown>;
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(canonical(a ?? null)) === JSON.stringify(canonical(b ?? null));
    // A field someone already set to the change's own value agrees with it: no conflict.
    const moved = Object.keys(change.patch).filter((field) => !same(fields[field], change.expected[field]) && !same(fields[field], change.patch[field]));
    if (moved.length) {
      return fail({
        code: 'version_conflict',
        message: `flag "${change.flagKey}" changed ${moved.join(', ')} since version ${change.baseVersion} (now version ${current.version}); the scheduled change was not applied over that edit`,
        details: { currentVersion: current.version, baseVersion: change.baseVersion, fields: moved },
      });
    }
    let flag: Flag;
    try {
      flag = await inSavepoint(tx, (savepoint) => patchFlagIn(savepoint, change.flagKey, change.patch, current.version, {
        actor: actorNamed(change.createdBy),
        ...(change.approvedBy ? { approver: change.approvedBy } : {}),
        // Approval is given when a change is scheduled: one scheduled on a flag that has become high-impact since was never approved.
        guard: async (before, next, guardTx) => {
          if (change.approvedBy) return;
          if (before.highImpact || next.highImpact !== before.highImpact || (await highImpactFlagsReachedFrom(guardTx, [before.key])).length > 0) {
            throw new AppError('approval_required', `flag "${before.key}" became high-impact, or a prerequisite of a high-impact flag, after the change was scheduled; schedule it again to have it approved`);
          }
        },
      }));
    } catch (error) {
      if (!isAppError(error) || error.code === 'unavailable' || error.code === 'internal') throw error;
      return fail({ code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) });
    }
    const result = { flagVersion: flag.version, ...(current.version !== change.baseVersion ? { rebasedFrom: change.baseVersion } : {}) };
    await finish(tx, change, { status: 'applied', result });
    return { status: 'applied', ...result };
  });
}

function recordedOutcome(change: ScheduledChangeRecord): FireOutcome | null {
  switch (change.status) {
    case 'applied':
      return { status: 'applied', flagVersion: change.result?.flagVersion ?? 0, ...(change.result?.rebasedFrom ? { rebasedFrom: change.result.rebasedFrom } : {}) };
    case 'failed':
      return { status: 'failed', failure: change.failure ?? { code: 'internal', message: 'failed' } };
    case 'cancelled':
      return { status: 'cancelled' };
    default:
      return null;
  }
}

function refuseClosed(change: ScheduledChangeRecord, what: string): void {
  if (!isOpen(change)) throw new AppError('validation_error', `scheduled change "${change.id}" is ${change.status}; it cannot be ${what}`, { status: change.status });
}

/** Cancels an open scheduled change (idempotent for one already cancelled), with its audit entry and event. */
export async function cancelScheduledChange(db: DatabasePool, id: string, by: Actor, reason: string | null): Promise<ScheduledChangeRecord> {
  return inWriteTransaction(db, async (tx) => {
    const change = await locked(tx, id);
    if (change.status === 'cancelled') return change;
    refuseClosed(change, 'cancelled');
    return finish(tx, change, { status: 'cancelled', by, reason });
  });
}

/** Marks an open scheduled change failed from outside its workflow: the workflow could not be started. */
export async function abandonScheduledChange(db: DatabasePool, id: string, failure: ScheduledChangeFailure): Promise<ScheduledChangeRecord> {
  return inWriteTransaction(db, async (tx) => {
    const change = await locked(tx, id);
    return isOpen(change) ? finish(tx, change, { status: 'failed', failure }) : change;
  });
}

/**
 * Moves an open scheduled change to another time, with its audit entry and event. `guard` sees the
 * flag under the write lock and may refuse (a high-impact flag's change needs approval again).
 * `changeRequestId` files the move as waiting for that request's approval.
 */
export async function rescheduleScheduledChange(
  db: DatabasePool,
  id: string,
  move: { runAt: number; by: Actor; reason: string | null },
  guard?: (flag: Flag, tx: WriteTransaction) => void | Promise<void>,
): Promise<ScheduledChangeRecord> {
  return inWriteTransaction(db, (tx) => rescheduleScheduledChangeIn(tx, id, move, guard));
}

export async function rescheduleScheduledChangeIn(
  tx: WriteTransaction,
  id: string,
  move: { runAt: number; by: Actor; reason: string | null; changeRequestId?: string },
  guard?: (flag: Flag, tx: WriteTransaction) => void | Promise<void>,
): Promise<ScheduledChangeRecord> {
  const change = await locked(tx, id);
  refuseClosed(change, 'rescheduled');
  const flag = await getFlag(tx, change.flagKey);
  if (!flag) throw new AppError('not_found', `flag "${change.flagKey}" does not exist`);
  await guard?.(flag, tx);
  const pending = move.changeRequestId !== undefined;
  const row = await tx.one(sql.type(scheduledRow)`
    UPDATE scheduled_changes SET run_at = ${timestamp(move.runAt)}, updated_at = now(),
      status = ${pending ? 'pending_approval' : change.status},
      change_request_id = ${pending ? (move.changeRequestId ?? null) : change.changeRequestId},
      approved_by = ${pending ? null : change.approvedBy}
    WHERE id = ${id} RETURNING ${COLUMNS}`);
  const record = toRecord(row);
  await appendAudit(tx, {
    actor: move.by,
    action: 'scheduled_change.rescheduled',
    entityType: 'scheduled_change',
    entityKey: id,
    before: { at: new Date(change.runAt).toISOString(), status: change.status },
    after: auditAfter(record),
  });
  await appendEvent(tx, { type: 'scheduled_change.rescheduled', entityKey: record.flagKey, payload: eventPayload(record, { previousAt: new Date(change.runAt).toISOString(), by: move.by.id, comment: move.reason }) });
  return record;
}

/** What a change request of kind `schedule` carries: the changes it approves, at their times. */
export interface ScheduleApproval {
  scheduledChanges: { id: string; at: string; patch: Record<string, unknown> }[];
}

/**
 * Applies an approved change request of kind `schedule`: its scheduled changes become `scheduled`
 * with the approver recorded. A change moved or cancelled since the request was filed is a
 * `version_conflict` (the approval was for something else), and nothing is approved.
 */
export async function approveScheduledChangesIn(tx: WriteTransaction, request: { id: string; change: Record<string, unknown>; requestedBy: string }, approver: string): Promise<void> {
  const approval = request.change as unknown as ScheduleApproval;
  if (!Array.isArray(approval.scheduledChanges)) throw new AppError('validation_error', 'a schedule change request needs "scheduledChanges"');
  for (const item of approval.scheduledChanges) {
    const change = await locked(tx, item.id);
    const same = change.status === 'pending_approval' && change.changeRequestId === request.id && Math.abs(change.runAt - Date.parse(item.at)) <= 1
      && JSON.stringify(canonical(change.patch)) === JSON.stringify(canonical(item.patch));
    if (!same) {
      throw new AppError('version_conflict', `scheduled change "${item.id}" is ${change.status} at ${new Date(change.runAt).toISOString()}, not the change this request was filed for`, { scheduledChangeId: item.id, status: change.status });
    }
    const row = await tx.one(sql.type(scheduledRow)`
      UPDATE scheduled_changes SET status = 'scheduled', approved_by = ${approver}, updated_at = now() WHERE id = ${item.id} RETURNING ${COLUMNS}`);
    await appendAudit(tx, {
      actor: actorNamed(request.requestedBy),
      approver,
      action: 'scheduled_change.approved',
      entityType: 'scheduled_change',
      entityKey: item.id,
      before: { status: change.status },
      after: auditAfter(toRecord(row)),
    });
  }
}
