import { z } from 'zod';
import type { DatabasePool } from './pool.ts';
import type { Actor } from './actor.ts';
import { sql } from './sql.ts';
import { appendAudit, appendEvent, inWriteTransaction, type WriteTransaction } from './write-transaction.ts';
import { ACTIVE_ROLLOUT_STATES } from '../domain/rollout-state.ts';

export interface Killswitch {
  category: string;
  engaged: boolean;
  reason: string | null;
  /** Null for a category that only flags name and nobody has engaged yet. */
  updatedAt: string | null;
  updatedBy: string | null;
  /** The active flags of the category, by key. */
  flags: string[];
}

const killswitchRow = z.object({
  category: z.string(),
  engaged: z.boolean(),
  reason: z.string().nullable(),
  updated_at: z.number().nullable(),
  updated_by: z.string().nullable(),
  flags: z.array(z.string()),
});

function toKillswitch(row: z.infer<typeof killswitchRow>): Killswitch {
  return {
    category: row.category,
    engaged: row.engaged,
    reason: row.reason,
    updatedAt: row.updated_at === null ? null : new Date(row.updated_at).toISOString(),
    updatedBy: row.updated_by,
    flags: row.flags,
  };
}

/**
 * Categories are what flags name in `killswitch` plus the rows of the table (a category may be
 * engaged before any flag joins it, and stays listed after its last flag leaves).
 */
const CATEGORIES = sql.fragment`
  WITH categories AS (
    SELECT killswitch AS category FROM flags WHERE killswitch IS NOT NULL AND state = 'active'
    UNION SELECT category FROM killswitches
  )
  SELECT c.category, coalesce(k.engaged, false) AS engaged, k.reason, k.updated_at, k.updated_by,
    coalesce((SELECT array_agg(f.key ORDER BY f.key) FROM flags f WHERE f.killswitch = c.category AND f.state = 'active'), '{}') AS flags
  FROM categories c LEFT JOIN killswitches k ON k.category = c.category`;

export async function listKillswitches(db: DatabasePool): Promise<Killswitch[]> {
  const rows = await db.any(sql.type(killswitchRow)`${CATEGORIES} ORDER BY c.category`);
  return rows.map(toKillswitch);
}

export async function getKillswitch(db: DatabasePool | WriteTransaction, category: string): Promise<Killswitch> {
  const row = await db.maybeOne(sql.type(killswitchRow)`${CATEGORIES} WHERE c.category = ${category}`);
  return row ? toKillswitch(row) : { category, engaged: false, reason: null, updatedAt: null, updatedBy: null, flags: [] };
}

async function engagedCategories(tx: WriteTransaction): Promise<Set<string>> {
  return new Set(await tx.anyFirst(sql.type(z.object({ category: z.string() }))`SELECT category FROM killswitches WHERE engaged`));
}

export interface KillswitchChange {
  killswitch: Killswitch;
  /** False when it already was in that state: nothing was written. */
  changed: boolean;
  /** Every engaged category after the change: what the writing process applies to its compiled set. */
  engaged: Set<string>;
}

/**
 * Engages or releases a category in one transaction: the row, an audit entry (`killswitch.engaged`
 * / `killswitch.released`, naming the flags it turns off or on) and the event of the same type,
 * whose `killswitch.` prefix makes every API process re-read the engaged categories. No flag row
 * changes: the engine evaluates a flag of an engaged category as off. Engaging an engaged category
 * (or releasing a released one) writes nothing.
 */
export async function setKillswitch(db: DatabasePool, category: string, engaged: boolean, options: { actor: Actor; reason?: string }): Promise<KillswitchChange> {
  return inWriteTransaction(db, async (tx) => {
    const before = await getKillswitch(tx, category);
    if (before.engaged === engaged) return { killswitch: before, changed: false, engaged: await engagedCategories(tx) };
    await tx.query(sql.typeAlias('void')`
      INSERT INTO killswitches (category, engaged, reason, updated_at, updated_by)
      VALUES (${category}, ${engaged}, ${options.reason ?? null}, now(), ${options.actor.id})
      ON CONFLICT (category) DO UPDATE SET engaged = EXCLUDED.engaged, reason = EXCLUDED.reason,
        updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`);
    const after = await getKillswitch(tx, category);
    const type = engaged ? 'killswitch.engaged' : 'killswitch.released';
    await appendAudit(tx, {
      actor: options.actor,
      action: type,
      entityType: 'killswitch',
      entityKey: category,
      before: { engaged: before.engaged, reason: before.reason },
      after: { engaged: after.engaged, reason: after.reason, flags: after.flags },
    });
    await appendEvent(tx, {
      type,
      entityKey: category,
      payload: { category, engaged, reason: options.reason ?? null, actor: options.actor.id, flags: after.flags, flagCount: after.flags.length },
    });
    return { killswitch: after, changed: true, engaged: await engagedCategories(tx) };
  });
}

const rolloutRef = z.object({ id: z.string(), flag_key: z.string(), state: z.string(), pause_cause: z.string().nullable() });

export interface RolloutRef {
  rolloutId: string;
  flagKey: string;
  state: string;
  pauseCause: string | null;
}

/** The scheduled, running or paused rollouts of the category's flags. */
export async function activeRolloutsInCategory(db: DatabasePool, category: string): Promise<RolloutRef[]> {
  const rows = await db.any(sql.type(rolloutRef)`
    SELECT r.id, r.flag_key, r.state, r.pause_cause FROM rollouts r JOIN flags f ON f.key = r.flag_key
    WHERE f.killswitch = ${category} AND r.state = ANY(${sql.array([...ACTIVE_ROLLOUT_STATES], 'text')})
    ORDER BY r.flag_key`);
  return rows.map((row) => ({ rolloutId: row.id, flagKey: row.flag_key, state: row.state, pauseCause: row.pause_cause }));
}

const owedPauseRow = z.object({ id: z.string(), flag_key: z.string(), category: z.string(), engaged_by: z.string().nullable() });

export interface OwedKillswitchPause {
  rolloutId: string;
  flagKey: string;
  category: string;
  /** Who engaged the category: the pause is recorded as theirs. */
  engagedBy: string;
}

/**
 * The rollouts an engaged category still owes a pause: scheduled or running when it was engaged,
 * and neither paused nor resumed by anyone since (someone who resumes one during the incident has
 * decided; its steps hold anyway while the category is engaged). A worker's reconciler pauses them.
 */
export async function rolloutsOwedKillswitchPause(db: DatabasePool, category?: string): Promise<OwedKillswitchPause[]> {
  const rows = await db.any(sql.type(owedPauseRow)`
    SELECT r.id, r.flag_key, k.category, k.updated_by AS engaged_by
    FROM killswitches k
    JOIN flags f ON f.killswitch = k.category AND f.state = 'active'
    JOIN rollouts r ON r.flag_key = f.key
    WHERE k.engaged AND r.state IN ('scheduled', 'running') AND r.created_at <= k.updated_at
      ${category === undefined ? sql.fragment`` : sql.fragment`AND k.category = ${category}`}
      AND NOT EXISTS (
        SELECT 1 FROM rollout_history h
        WHERE h.rollout_id = r.id AND h.kind IN ('paused', 'resumed') AND h.at >= k.updated_at)
    ORDER BY r.flag_key`);
  return rows.map((row) => ({ rolloutId: row.id, flagKey: row.flag_key, category: row.category, engagedBy: row.engaged_by ?? 'system' }));
}
