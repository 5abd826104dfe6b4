import { z } from 'zod';
import { EXPOSURE_EVENT_TYPE, TRACKING_EVENT_TYPE } from '../domain/event-types.ts';
import type { Actor } from './actor.ts';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';
import { appendAudit, appendEvent, inWriteTransaction } from './write-transaction.ts';

const DAY_MS = 86_400_000;

/** The moment before which something finished long enough ago to be cleaned up. */
export function daysBefore(now: number, days: number): number {
  return now - days * DAY_MS;
}

/**
 * What clean-up removes: rollout plans that ended, change requests that were decided, scheduled
 * changes that were applied, failed or cancelled, each finished before the cutoff. Nothing open is
 * ever among them (a plan scheduled, running or paused; a request pending or approved; a change
 * scheduled or waiting for approval): their workflows still write to these rows.
 */
export interface CleanupCandidates {
  rollouts: { id: string; flagKey: string; state: string; finishedAt: string }[];
  changeRequests: { id: string; flagKey: string; status: string; finishedAt: string }[];
  scheduledChanges: { id: string; flagKey: string; status: string; finishedAt: string }[];
}

const FINISHED_ROLLOUT = sql.fragment`state IN ('completed', 'cancelled', 'rolled_back', 'failed')`;
const DECIDED_REQUEST = sql.fragment`status IN ('applied', 'rejected', 'expired', 'cancelled', 'failed')`;
const FINISHED_CHANGE = sql.fragment`status IN ('applied', 'failed', 'cancelled')`;

const candidateRow = z.object({ id: z.string(), flag_key: z.string(), outcome: z.string(), finished_at: z.number() });

function cutoffTime(cutoff: number) {
  return sql.fragment`to_timestamp(${cutoff}::float8 / 1000)`;
}

/** What a clean-up with this cutoff would remove now, oldest first, up to `limit` of each kind: the dry run. */
export async function listCleanupCandidates(db: DatabasePool, options: { cutoff: number; limit: number }): Promise<CleanupCandidates> {
  const before = cutoffTime(options.cutoff);
  const [rollouts, changeRequests, scheduledChanges] = await Promise.all([
    db.any(sql.type(candidateRow)`SELECT id, flag_key, state AS outcome, finished_at FROM rollouts
      WHERE ${FINISHED_ROLLOUT} AND finished_at < ${before} ORDER BY finished_at, id LIMIT ${options.limit}`),
    db.any(sql.type(candidateRow)`SELECT id, flag_key, status AS outcome, finished_at FROM change_requests
      WHERE ${DECIDED_REQUEST} AND finished_at < ${before} ORDER BY finished_at, id LIMIT ${options.limit}`),
    db.any(sql.type(candidateRow)`SELECT id, flag_key, status AS outcome, finished_at FROM scheduled_changes
      WHERE ${FINISHED_CHANGE} AND finished_at < ${before} ORDER BY finished_at, id LIMIT ${options.limit}`),
  ]);
  const finishedAt = (row: z.infer<typeof candidateRow>) => new Date(row.finished_at).toISOString();
  return {
    rollouts: rollouts.map((row) => ({ id: row.id, flagKey: row.flag_key, state: row.outcome, finishedAt: finishedAt(row) })),
    changeRequests: changeRequests.map((row) => ({ id: row.id, flagKey: row.flag_key, status: row.outcome, finishedAt: finishedAt(row) })),
    scheduledChanges: scheduledChanges.map((row) => ({ id: row.id, flagKey: row.flag_key, status: row.outcome, finishedAt: finishedAt(row) })),
  };
}

export interface CleanupBatch {
  rollouts: number;
  rolloutHistory: number;
  changeRequests: number;
  scheduledChanges: number;
}

const idRow = z.object({ id: z.string() });
const countRow = z.object({ count: z.number() });

/**
 * Removes up to `limit` of each kind of finished record, in one transaction with a
 * `retention.compacted` audit entry and event naming every id removed. Their history stays in the
 * audit log, where it was written as it happened: a plan's `rollout.scheduled` entry holds the plan,
 * each step its `flag.updated` entry and the end its `rollout.<outcome>` entry; a request's
 * `change_request.requested` entry holds the change, then its decision and outcome; a scheduled
 * change's `scheduled_change.*` entries hold the patch, the time and the outcome. Retrying is safe:
 * what was removed is no longer a candidate. The rows are locked (SKIP LOCKED) so a batch never
 * waits for, nor removes from under, a write that holds one.
 */
export async function compactFinishedRecords(db: DatabasePool, options: { cutoff: number; limit: number; actor: Actor; settings: Record<string, number> }): Promise<CleanupBatch> {
  return inWriteTransaction(db, async (tx) => {
    const before = cutoffTime(options.cutoff);
    const rolloutIds = await tx.anyFirst(sql.type(idRow)`SELECT id FROM rollouts WHERE ${FINISHED_ROLLOUT} AND finished_at < ${before}
      ORDER BY finished_at, id LIMIT ${options.limit} FOR UPDATE SKIP LOCKED`);
    const requestIds = await tx.anyFirst(sql.type(idRow)`SELECT id FROM change_requests WHERE ${DECIDED_REQUEST} AND finished_at < ${before}
      ORDER BY finished_at, id LIMIT ${options.limit} FOR UPDATE SKIP LOCKED`);
    const changeIds = await tx.anyFirst(sql.type(idRow)`SELECT id FROM scheduled_changes WHERE ${FINISHED_CHANGE} AND finished_at < ${before}
      ORDER BY finished_at, id LIMIT ${options.limit} FOR UPDATE SKIP LOCKED`);
    const removed: CleanupBatch = { rollouts: rolloutIds.length, rolloutHistory: 0, changeRequests: requestIds.length, scheduledChanges: changeIds.length };
    if (rolloutIds.length + requestIds.length + changeIds.length === 0) return removed;
    removed.rolloutHistory = await tx.oneFirst(sql.type(countRow)`
      WITH gone AS (DELETE FROM rollout_history WHERE rollout_id = ANY(${sql.array(rolloutIds, 'text')}) RETURNING 1) SELECT count(*)::int AS count FROM gone`);
    await tx.query(sql.typeAlias('void')`DELETE FROM rollouts WHERE id = ANY(${sql.array(rolloutIds, 'text')})`);
    await tx.query(sql.typeAlias('void')`DELETE FROM change_requests WHERE id = ANY(${sql.array(requestIds, 'text')})`);
    await tx.query(sql.typeAlias('void')`DELETE FROM scheduled_changes WHERE id = ANY(${sql.array(changeIds, 'text')})`);
    const cutoff = new Date(options.cutoff).toISOString();
    await appendAudit(tx, {
      actor: options.actor,
      action: 'retention.compacted',
      entityType: 'retention',
      entityKey: options.actor.id,
      before: null,
      after: { cutoff, ...options.settings, removed, rolloutIds, changeRequestIds: requestIds, scheduledChangeIds: changeIds },
    });
    await appendEvent(tx, { type: 'retention.compacted', entityKey: options.actor.id, payload: { cutoff, ...options.settings, removed } });
    return removed;
  });
}

const compressRow = z.object({ entries: z.number(), first_id: z.number().nullable(), last_id: z.number().nullable() });

/**
 * Compresses the oldest audit entries written before the cutoff, up to `blockSize` of them, into one
 * block (sql/019_cleanup.sql, `audit_compress`): their before, after and diff move into a block that
 * PostgreSQL stores compressed, and read back byte for byte the same, so they hash as before.
 */
export async function compressAuditEntries(db: DatabasePool, options: { cutoff: number; blockSize: number }): Promise<{ entries: number; firstId: number | null; lastId: number | null }> {
  const row = await db.one(sql.type(compressRow)`SELECT * FROM audit_compress(${cutoffTime(options.cutoff)}, ${options.blockSize})`);
  return { entries: row.entries, firstId: row.first_id, lastId: row.last_id };
}

/** How long each kind of record is kept, in days (the retention run's input). */
export interface CleanupSettings {
  cleanupAfterDays: number;
  auditCompressAfterDays: number;
  evaluationCountsDays: number;
  /** SDKs' exposure and tracking batches are removed from the outbox after this; absent, they are kept. */
  analyticsEventsDays?: number;
}

export interface CleanupTotals {
  removed: CleanupBatch;
  /** Audit entries whose content was moved into compressed blocks, and into how many blocks. */
  compressedEntries: number;
  compressedBlocks: number;
  prunedEvaluationCounts: number;
  /** Records of snapshot publications (one per publication; only the newest is ever read) removed. */
  prunedSnapshotRecords: number;
  /** SDKs' exposure and tracking batches removed from the outbox; absent when the run was not asked to. */
  prunedAnalyticsEvents?: number;
}

/** Records of each kind removed per transaction (and per audit entry naming them). */
const COMPACTION_BATCH = 500;
/**
 * Audit entries per compressed block. A block is read whole to give back one of its entries, so it
 * stays small enough to read for a page of the audit API, and large enough to compress well across
 * entries (bench/storage.bench.ts measures both).
 */
export const AUDIT_BLOCK_SIZE = 200;
/** Evaluation count rows removed per statement. */
const PRUNE_BATCH = 10_000;
/** Outbox rows removed per statement: an exposure batch holds up to 1,000 exposures, stored out of line. */
const ANALYTICS_PRUNE_BATCH = 1_000;
/** Outbox ids one statement looks through, so that none runs long however many change events it passes. */
const ANALYTICS_PRUNE_WINDOW = 100_000;

/**
 * The clean-up of one retention run: removes finished rollout plans, decided change requests and
 * finished scheduled changes past their age, compresses old audit entries, removes expired
 * evaluation counts, the records of snapshots published before the same age and SDKs' old exposure
 * and tracking events, batch by batch, each batch a transaction of its own, telling `progress` the
 * totals after each; then records that it completed (`lastCleanup`). Running it again is safe: it
 * finds only what is left.
 */
export async function cleanUp(db: DatabasePool, settings: CleanupSettings, options: { now: number; actor: Actor; progress?: (totals: CleanupTotals) => void }): Promise<CleanupTotals> {
  const progress = options.progress ?? (() => undefined);
  const totals: CleanupTotals = {
    removed: { rollouts: 0, rolloutHistory: 0, changeRequests: 0, scheduledChanges: 0 },
    compressedEntries: 0,
    compressedBlocks: 0,
    prunedEvaluationCounts: 0,
    prunedSnapshotRecords: 0,
  };
  const compactionCutoff = daysBefore(options.now, settings.cleanupAfterDays);
  for (;;) {
    const batch = await compactFinishedRecords(db, { cutoff: compactionCutoff, limit: COMPACTION_BATCH, actor: options.actor, settings: { cleanupAfterDays: settings.cleanupAfterDays } });
    totals.removed.rollouts += batch.rollouts;
    totals.removed.rolloutHistory += batch.rolloutHistory;
    totals.removed.changeRequests += batch.changeRequests;
    totals.removed.scheduledChanges += batch.scheduledChanges;
    progress(totals);
    if (Math.max(batch.rollouts, batch.changeRequests, batch.scheduledChanges) < COMPACTION_BATCH) break;
  }
  const compressionCutoff = daysBefore(options.now, settings.auditCompressAfterDays);
  for (;;) {
    const block = await compressAuditEntries(db, { cutoff: compressionCutoff, blockSize: AUDIT_BLOCK_SIZE });
    totals.compressedEntries += block.entries;
    if (block.entries > 0) totals.compressedBlocks += 1;
    progress(totals);
    if (block.entries < AUDIT_BLOCK_SIZE) break;
  }
  const countsCutoff = daysBefore(options.now, settings.evaluationCountsDays);
  await pruneInBatches(() => pruneEvaluationCounts(db, { cutoff: countsCutoff, limit: PRUNE_BATCH }), (pruned) => {
    totals.prunedEvaluationCounts += pruned;
    progress(totals);
  });
  await pruneInBatches(() => pruneSnapshotRecords(db, { cutoff: compactionCutoff, limit: PRUNE_BATCH }), (pruned) => {
    totals.prunedSnapshotRecords += pruned;
    progress(totals);
  });
  if (settings.analyticsEventsDays !== undefined) {
    totals.prunedAnalyticsEvents = 0;
    await pruneAnalyticsEvents(db, { cutoff: daysBefore(options.now, settings.analyticsEventsDays), limit: ANALYTICS_PRUNE_BATCH, window: ANALYTICS_PRUNE_WINDOW }, (pruned) => {
      totals.prunedAnalyticsEvents! += pruned;
      progress(totals);
    });
  }
  await db.query(sql.typeAlias('void')`
    INSERT INTO maintenance_runs (name, finished_at, result) VALUES (${CLEANUP_RUN}, now(), ${sql.jsonb({ ...settings, ...totals })})
    ON CONFLICT (name) DO UPDATE SET finished_at = excluded.finished_at, result = excluded.result`);
  return totals;
}

/** The clean-up's name in `maintenance_runs` (sql/022), where each completed run records itself. */
const CLEANUP_RUN = 'retention-cleanup';

/** When the clean-up last completed, and what it did; null before its first run. */
export async function lastCleanup(db: DatabasePool): Promise<{ finishedAt: number; result: unknown } | null> {
  const row = await db.maybeOne(sql.type(z.object({ finished_at: z.number(), result: z.unknown() }))`
    SELECT finished_at, result FROM maintenance_runs WHERE name = ${CLEANUP_RUN}`);
  return row && { finishedAt: row.finished_at, result: row.result };
}

/** The only events the clean-up removes: batches SDKs report for analytics, which change nothing. */
const ANALYTICS_EVENT_TYPES = [EXPOSURE_EVENT_TYPE, TRACKING_EVENT_TYPE];

/**
 * Removes exposure and tracking batches appended before the cutoff, oldest first, each statement
 * removing at most `limit` and looking through at most `window` ids; `counted` hears after each.
 * Change events stay: they are few, and every reader of changes (catch-up, streams, webhooks, the
 * flag-set version) follows them. So does the newest event of all (a stream without a resume point
 * and a new webhook start from it).
 */
export async function pruneAnalyticsEvents(db: DatabasePool, options: { cutoff: number; limit: number; window: number }, counted: (pruned: number) => void): Promise<void> {
  const { oldest, keepFrom } = await outboxIdsToPrune(db, options.cutoff);
  for (let after = oldest - 1; after < keepFrom - 1; ) {
    const below = Math.min(keepFrom, after + 1 + options.window);
    const batch = await pruneAnalyticsEventsBetween(db, { cutoff: options.cutoff, after, below, limit: options.limit });
    counted(batch.pruned);
    after = batch.pruned === options.limit ? batch.lastId : below - 1;
  }
}

const idAt = z.object({ id: z.number(), old: z.boolean() });

/**
 * The outbox's oldest id, and the id from which everything stays: the first event appended at or
 * after the cutoff, or the newest event when none was. Ids follow time (an event's time and id are
 * both drawn under the append lock), so a binary search over ids finds it in a few dozen index
 * lookups, however long the outbox, and the removal need look at no id past it.
 */
async function outboxIdsToPrune(db: DatabasePool, cutoff: number): Promise<{ oldest: number; keepFrom: number }> {
  const bounds = await db.one(sql.type(z.object({ oldest: z.number(), newest: z.number() }))`
    SELECT coalesce(min(id), 0)::bigint AS oldest, coalesce(max(id), 0)::bigint AS newest FROM outbox`);
  let keepFrom = bounds.newest;
  for (let low = bounds.oldest, high = bounds.newest - 1; low <= high; ) {
    const middle = Math.floor((low + high) / 2);
    const probe = await db.maybeOne(sql.type(idAt)`
      SELECT id, at < ${cutoffTime(cutoff)} AS old FROM outbox WHERE id >= ${middle} ORDER BY id LIMIT 1`);
    if (!probe || probe.id > high) high = middle - 1;
    else if (probe.old) low = probe.id + 1;
    else {
      keepFrom = probe.id;
      high = middle - 1;
    }
  }
  return { oldest: bounds.oldest, keepFrom };
}

/** One statement of `pruneAnalyticsEvents`: ids between `after` and `below`; how many went and the last id removed. */
async function pruneAnalyticsEventsBetween(db: DatabasePool, options: { cutoff: number; after: number; below: number; limit: number }): Promise<{ pruned: number; lastId: number }> {
  const row = await db.one(sql.type(z.object({ pruned: z.number(), last_id: z.number() }))`
    WITH gone AS (
      DELETE FROM outbox WHERE id = ANY(ARRAY(
        SELECT id FROM outbox
        WHERE id > ${options.after} AND id < ${options.below} AND type = ANY(${sql.array(ANALYTICS_EVENT_TYPES, 'text')}) AND at < ${cutoffTime(options.cutoff)}
        ORDER BY id LIMIT ${options.limit}))
      RETURNING id)
    SELECT count(*)::int AS pruned, coalesce(max(id), 0)::bigint AS last_id FROM gone`);
  return { pruned: row.pruned, lastId: row.last_id };
}

/** Runs `prune` (a statement removing up to PRUNE_BATCH rows) until a batch comes back short. */
async function pruneInBatches(prune: () => Promise<number>, counted: (pruned: number) => void): Promise<void> {
  for (;;) {
    const pruned = await prune();
    counted(pruned);
    if (pruned < PRUNE_BATCH) return;
  }
}

/**
 * Removes the records of snapshots published before the cutoff, up to `limit`, never the newest
 * (what `/health` and a starting API read); how many went. A publication a second adds 86,400 a day.
 */
export async function pruneSnapshotRecords(db: DatabasePool, options: { cutoff: number; limit: number }): Promise<number> {
  return db.oneFirst(sql.type(countRow)`
    WITH gone AS (
      DELETE FROM snapshots WHERE version = ANY(ARRAY(
        SELECT version FROM snapshots
        WHERE published_at < ${cutoffTime(options.cutoff)} AND version < (SELECT max(version) FROM snapshots)
        ORDER BY version LIMIT ${options.limit}))
      RETURNING 1)
    SELECT count(*)::int AS count FROM gone`);
}

/** Removes evaluation counts of hours before the cutoff, up to `limit` rows; how many went. */
export async function pruneEvaluationCounts(db: DatabasePool, options: { cutoff: number; limit: number }): Promise<number> {
  return db.oneFirst(sql.type(countRow)`
    WITH gone AS (
      DELETE FROM flag_evaluation_counts WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM flag_evaluation_counts WHERE hour < ${cutoffTime(options.cutoff)} LIMIT ${options.limit}))
      RETURNING 1)
    SELECT count(*)::int AS count FROM gone`);
}
