import { z } from 'zod';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';

export interface EvaluationCountRow {
  flagKey: string;
  reason: string;
  ruleId: string;
  variant: string;
  /** The served value's JSON (cut), '' when past the per-flag cap of distinct values. */
  value: string;
  count: number;
}

/**
 * How stale `flag_usage.last_evaluated_at` may be. A flag evaluated all the time would otherwise
 * have its usage row rewritten by every flush of every process (a new row version each time, for
 * every such flag); stale detection counts in days, the insights API shows it to the minute.
 */
const LAST_EVALUATED_PRECISION = sql.fragment`interval '1 minute'`;

/**
 * Adds a flush's counts to the current hour and marks the flags evaluated now, in one statement
 * (one round trip, atomic without a transaction; arrays, whatever the number of rows). Not a write
 * of the flag set: no write lock, no audit.
 */
export async function addEvaluationCounts(db: DatabasePool, rows: readonly EvaluationCountRow[]): Promise<void> {
  const column = <K extends keyof EvaluationCountRow>(name: K) => rows.map((row) => row[name]);
  await db.query(sql.typeAlias('void')`
    WITH counted AS (
      INSERT INTO flag_evaluation_counts (flag_key, hour, reason, rule_id, variant, value, count)
      SELECT flag_key, date_trunc('hour', now()), reason, rule_id, variant, value, sum(count)
      FROM unnest(${sql.array(column('flagKey'), 'text')}, ${sql.array(column('reason'), 'text')}, ${sql.array(column('ruleId'), 'text')},
                  ${sql.array(column('variant'), 'text')}, ${sql.array(column('value'), 'text')}, ${sql.array(column('count'), 'int8')})
           AS drained (flag_key, reason, rule_id, variant, value, count)
      GROUP BY flag_key, reason, rule_id, variant, value
      ON CONFLICT (flag_key, hour, reason, rule_id, variant, value) DO UPDATE SET count = flag_evaluation_counts.count + excluded.count)
    INSERT INTO flag_usage (flag_key, last_evaluated_at)
    SELECT flag_key, now() FROM unnest(${sql.array([...new Set(column('flagKey'))], 'text')}) AS evaluated (flag_key)
    ON CONFLICT (flag_key) DO UPDATE SET last_evaluated_at = excluded.last_evaluated_at
      WHERE flag_usage.last_evaluated_at < excluded.last_evaluated_at - ${LAST_EVALUATED_PRECISION}`);
}

export interface InsightWindow {
  total: number;
  byReason: Record<string, number>;
  byRule: Record<string, number>;
  byVariant: Record<string, number>;
  /** By served value's JSON; `"other"` past the per-flag cap of distinct values. */
  byValue: Record<string, number>;
}

export const INSIGHT_WINDOWS = { '1h': 1, '24h': 24, '7d': 168, '30d': 720 } as const;
export type InsightWindowName = keyof typeof INSIGHT_WINDOWS;

const groupRow = z.object({ hours: z.number(), reason: z.string(), rule_id: z.string(), variant: z.string(), value: z.string(), count: z.number() });

/**
 * A flag's counts over the last hour, day, week and month (whole hours: the current hour and the
 * ones before it), and when it was last evaluated (to within a flush).
 */
export async function flagInsights(db: DatabasePool, flagKey: string): Promise<{ lastEvaluatedAt: number | null; windows: Record<InsightWindowName, InsightWindow> }> {
  const lastEvaluatedAt = await db.maybeOneFirst(sql.type(z.object({ last_evaluated_at: z.number() }))`
    SELECT last_evaluated_at FROM flag_usage WHERE flag_key = ${flagKey}`);
  const rows = await db.any(sql.type(groupRow)`
    SELECT (extract(epoch FROM date_trunc('hour', now()) - hour) / 3600)::int AS hours, reason, rule_id, variant, value, sum(count)::float8 AS count
    FROM flag_evaluation_counts
    WHERE flag_key = ${flagKey} AND hour > date_trunc('hour', now()) - interval '720 hours'
    GROUP BY hour, reason, rule_id, variant, value`);
  const windows = Object.fromEntries(Object.keys(INSIGHT_WINDOWS).map((name) => [name, { total: 0, byReason: {}, byRule: {}, byVariant: {}, byValue: {} }])) as Record<InsightWindowName, InsightWindow>;
  const add = (into: Record<string, number>, key: string, count: number) => {
    into[key] = (into[key] ?? 0) + count;
  };
  for (const row of rows) {
    for (const [name, hours] of Object.entries(INSIGHT_WINDOWS) as [InsightWindowName, number][]) {
      if (row.hours >= hours) continue;
      const window = windows[name];
      window.total += row.count;
      add(window.byReason, row.reason, row.count);
      if (row.rule_id) add(window.byRule, row.rule_id, row.count);
      if (row.variant) add(window.byVariant, row.variant, row.count);
      add(window.byValue, row.value || 'other', row.count);
    }
  }
  return { lastEvaluatedAt: lastEvaluatedAt ?? null, windows };
}

export type StaleReason = 'not_evaluated' | 'single_value' | 'past_lifetime';

export interface StaleFlag {
  key: string;
  reason: StaleReason;
  owner: string | null;
  /** When it was last evaluated (null: never, to this service's knowledge). */
  lastEvaluatedAt: number | null;
  /** single_value: the one value served (its JSON). */
  value: string | null;
  /** Since when the reason holds: the last evaluation (or creation), the last change, or the creation. */
  since: number;
}

const staleRow = z.object({
  key: z.string(),
  reason: z.enum(['not_evaluated', 'single_value', 'past_lifetime']),
  owner: z.string().nullable(),
  last_evaluated_at: z.number().nullable(),
  value: z.string().nullable(),
  since: z.number(),
});

/**
 * Active flags that look ready to be removed from code, each once, with the first reason that holds:
 * - `not_evaluated`: not evaluated for `unevaluatedDays` (or never, and created longer ago);
 * - `single_value`: evaluated in the last `singleValueDays`, every time with the same value and
 *   variant, and unchanged for as long (fully rolled out, or fully off);
 * - `past_lifetime`: a temporary flag older than the `expectedLifetime` (days) it was created with.
 * A flag whose `expectedLifetime` is `permanent` is never stale.
 */
export async function listStaleFlags(db: DatabasePool, options: { unevaluatedDays: number; singleValueDays: number; limit: number; after?: string; owner?: string }): Promise<StaleFlag[]> {
  const rows = await db.any(sql.type(staleRow)`
    WITH candidates AS (
      SELECT f.key, f.created_at, f.updated_at, f.definition->>'owner' AS owner, f.definition->'expectedLifetime' AS lifetime, u.last_evaluated_at
      FROM flags f LEFT JOIN flag_usage u ON u.flag_key = f.key
      WHERE f.state = 'active' AND coalesce(f.definition->>'expectedLifetime', '') <> 'permanent'
        ${options.after ? sql.fragment`AND f.key > ${options.after}` : sql.fragment``}
        ${options.owner ? sql.fragment`AND lower(f.definition->>'owner') = lower(${options.owner})` : sql.fragment``}
    ), served AS (
      SELECT c.flag_key, min(c.value) AS value, count(DISTINCT (c.variant, c.value)) AS outcomes
      FROM flag_evaluation_counts c
      WHERE c.hour >= date_trunc('hour', now() - make_interval(days => ${options.singleValueDays}))
      GROUP BY c.flag_key
    ), judged AS (
      SELECT k.key, k.owner, k.last_evaluated_at, s.value,
        CASE
          WHEN coalesce(k.last_evaluated_at, k.created_at) < now() - make_interval(days => ${options.unevaluatedDays}) THEN 'not_evaluated'
          WHEN s.outcomes = 1 AND s.value <> '' AND k.updated_at < now() - make_interval(days => ${options.singleValueDays}) THEN 'single_value'
          WHEN jsonb_typeof(k.lifetime) = 'number' AND k.created_at < now() - make_interval(days => (k.lifetime)::text::int) THEN 'past_lifetime'
        END AS reason,
        k.created_at, k.updated_at
      FROM candidates k LEFT JOIN served s ON s.flag_key = k.key
    )
    SELECT key, reason, owner, last_evaluated_at, CASE WHEN reason = 'single_value' THEN value END AS value,
      CASE reason WHEN 'not_evaluated' THEN coalesce(last_evaluated_at, created_at) WHEN 'single_value' THEN updated_at ELSE created_at END AS since
    FROM judged WHERE reason IS NOT NULL
    ORDER BY key LIMIT ${options.limit}`);
  return rows.map((row) => ({ key: row.key, reason: row.reason, owner: row.owner, lastEvaluatedAt: row.last_evaluated_at, value: row.value, since: row.since }));
}

/** How many active flags are stale, by reason; the metrics read it at each scrape. */
export async function countFlagsByLifecycle(db: DatabasePool, options: { unevaluatedDays: number; singleValueDays: number }): Promise<{ active: number; archived: number; stale: Record<StaleReason, number> }> {
  const states = await db.one(sql.type(z.object({ active: z.number(), archived: z.number() }))`
    SELECT count(*) FILTER (WHERE state = 'active')::int AS active, count(*) FILTER (WHERE state = 'archived')::int AS archived FROM flags`);
  const stale: Record<StaleReason, number> = { not_evaluated: 0, single_value: 0, past_lifetime: 0 };
  for (const flag of await listStaleFlags(db, { ...options, limit: 1_000_000 })) stale[flag.reason] += 1;
  return { ...states, stale };
}
