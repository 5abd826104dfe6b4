import { z } from 'zod';
import type { Actor } from './actor.ts';
import { auditView, getFlag } from './flags.ts';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';
import { appendAudit, appendEvent, inWriteTransaction } from './write-transaction.ts';

const DAY_MS = 86_400_000;

/** The moment before which an archived flag has been archived long enough to be purged. */
export function retentionCutoff(now: number, archiveRetentionDays: number): number {
  return now - archiveRetentionDays * DAY_MS;
}

export interface PurgeCandidate {
  key: string;
  version: number;
  archivedAt: number;
}

const candidateRow = z.object({ key: z.string(), version: z.number(), archived_at: z.number() });

/**
 * A flag is purged only when nothing still works on it: no open change request (a restore waiting
 * for approval), no open scheduled change, no rollout plan that has not ended. Their workflows write
 * to the rows a purge would remove; such a flag waits for the next run after they end.
 */
const NOTHING_OPEN = sql.fragment`
  NOT EXISTS (SELECT 1 FROM change_requests c WHERE c.flag_key = f.key AND c.status IN ('pending', 'approved'))
  AND NOT EXISTS (SELECT 1 FROM scheduled_changes s WHERE s.flag_key = f.key AND s.status IN ('pending_approval', 'scheduled'))
  AND NOT EXISTS (SELECT 1 FROM rollouts r WHERE r.flag_key = f.key AND r.state IN ('scheduled', 'running', 'paused'))`;

/** The archived flags a purge would remove now, oldest archive first: the dry run. */
export async function listPurgeCandidates(db: DatabasePool, options: { cutoff: number; limit: number }): Promise<PurgeCandidate[]> {
  const rows = await db.any(sql.type(candidateRow)`
    SELECT f.key, f.version, f.archived_at FROM flags f
    WHERE f.state = 'archived' AND f.archived_at < to_timestamp(${options.cutoff}::float8 / 1000) AND ${NOTHING_OPEN}
    ORDER BY f.archived_at, f.key LIMIT ${options.limit}`);
  return rows.map((row) => ({ key: row.key, version: row.version, archivedAt: row.archived_at }));
}

export interface PurgeResult {
  purged: boolean;
  /** What went with the flag's row. */
  removed?: { rollouts: number; rolloutHistory: number; changeRequests: number; scheduledChanges: number };
}

const countRow = z.object({ count: z.number() });

/**
 * Purges one archived flag, if it is still a candidate under the write lock (a restore a moment ago
 * keeps it): its row, its rollout plans and their history, its change requests, scheduled changes
 * and evaluation counts go, in one transaction with a `flag.purged` audit entry and event. The audit log keeps
 * every earlier entry of the flag, so its history stays readable and the chain verifies. The key
 * may then be created again (starting at version 1).
 */
export async function purgeArchivedFlag(db: DatabasePool, key: string, options: { cutoff: number; actor: Actor }): Promise<PurgeResult> {
  return inWriteTransaction(db, async (tx) => {
    const still = await tx.maybeOne(sql.type(z.object({ key: z.string() }))`
      SELECT f.key FROM flags f
      WHERE f.key = ${key} AND f.state = 'archived' AND f.archived_at < to_timestamp(${options.cutoff}::float8 / 1000) AND ${NOTHING_OPEN}
      FOR UPDATE`);
    const flag = still ? await getFlag(tx, key) : null;
    if (!flag) return { purged: false };
    const archivedAt = await tx.oneFirst(sql.type(z.object({ archived_at: z.number() }))`SELECT archived_at FROM flags WHERE key = ${key}`);
    const rolloutHistory = await tx.oneFirst(sql.type(countRow)`
      WITH gone AS (DELETE FROM rollout_history WHERE rollout_id IN (SELECT id FROM rollouts WHERE flag_key = ${key}) RETURNING 1) SELECT count(*)::int AS count FROM gone`);
    const rollouts = await tx.oneFirst(sql.type(countRow)`WITH gone AS (DELETE FROM rollouts WHERE flag_key = ${key} RETURNING 1) SELECT count(*)::int AS count FROM gone`);
    const changeRequests = await tx.oneFirst(sql.type(countRow)`WITH gone AS (DELETE FROM change_requests WHERE flag_key = ${key} RETURNING 1) SELECT count(*)::int AS count FROM gone`);
    const scheduledChanges = await tx.oneFirst(sql.type(countRow)`WITH gone AS (DELETE FROM scheduled_changes WHERE flag_key = ${key} RETURNING 1) SELECT count(*)::int AS count FROM gone`);
    await tx.query(sql.typeAlias('void')`DELETE FROM flag_evaluation_counts WHERE flag_key = ${key}`);
    await tx.query(sql.typeAlias('void')`DELETE FROM context_samples WHERE scope = ${key}`);
    await tx.query(sql.typeAlias('void')`DELETE FROM flag_usage WHERE flag_key = ${key}`);
    await tx.query(sql.typeAlias('void')`DELETE FROM flags WHERE key = ${key}`);
    const removed = { rollouts, rolloutHistory, changeRequests, scheduledChanges };
    await appendAudit(tx, {
      actor: options.actor,
      action: 'flag.purged',
      entityType: 'flag',
      entityKey: key,
      version: flag.version,
      before: auditView(flag),
      after: null,
    });
    await appendEvent(tx, {
      type: 'flag.purged',
      entityKey: key,
      payload: { flagKey: key, version: flag.version, archivedAt: new Date(archivedAt).toISOString(), actor: options.actor.id, removed },
    });
    return { purged: true, removed };
  });
}
