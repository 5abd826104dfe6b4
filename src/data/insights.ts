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
 * Adds a flush's counts to the current hour and marks the flags evaluated now, in one statement
 * each (arrays, whatever the number of rows). Not a write of the flag set: no write lock, no audit.
 */
export async function addEvaluationCounts(db: DatabasePool, rows: readonly EvaluationCountRow[]): Promise<void> {
  const column = <K extends keyof EvaluationCountRow>(name: K) => rows.map((row) => row[name]);
  await db.transaction(async (tx) => {
    await tx.query(sql.typeAlias('void')`
      INSERT INTO flag_evaluation_counts (flag_key, hour, reason, rule_id, variant, value, count)
      SELECT flag_key, date_trunc('hour', now()), reason, rule_id, variant, value, sum(count)
      FROM unnest(${sql.array(column('flagKey'), 'text')}, ${sql.array(column('reason'), 'text')}, ${sql.array(column('ruleId'), 'text')},
                  ${sql.array(column('variant'), 'text')}, ${sql.array(column('value'), 'text')}, ${sql.array(column('count'), 'int8')})
           AS counted (flag_key, reason, rule_id, variant, value, count)
      GROUP BY flag_key, reason, rule_id, variant, value
      ON CONFLICT (flag_key, hour, reason, rule_id, variant, value) DO UPDATE SET count = flag_evaluation_counts.count + excluded.count`);
    await tx.query(sql.typeAlias('void')`
      INSERT INTO flag_usage (flag_key, last_evaluated_at)
      SELECT DISTINCT flag_key, now() FROM unnest(${sql.array([...new Set(column('flagKey'))], 'text')}) AS evaluated (flag_key)
      ON CONFLICT (flag_key) DO UPDATE SET last_evaluated_at = greatest(flag_usage.last_evaluated_at, excluded.last_evaluated_at)`);
  });
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

export type StaleReason = 'not_evaluated' | 'single_value';

export interface StaleFlag {
  key: string;
  reason: StaleReason;
  /** not_evaluated: when it last was (null: never); single_value: the one value served. */
  lastEvaluatedAt: number | null;
  value: string | null;
  since: number;
}

const staleRow = z.object({ key: z.string(), reason: z.enum(['not_evaluated', 'single_value']), last_evaluated_at: z.number().nullable(), value: z.string().nullable(), since: z.number() });

/**
 * Active flags that look ready to be removed from code, with the reason:
 * - `not_evaluated`: not evaluated for `unevaluatedDays` (or never, and created longer ago);
 * - `single_value`: evaluated in the last `singleValueDays`, every time with the same value and
 *   variant, and unchanged for as long (fully rolled out, or fully off).
 * A flag that is both is listed as not_evaluated.
 */
export async function listStaleFlags(db: DatabasePool, options: { unevaluatedDays: number; singleValueDays: number; limit: number; after?: string }): Promise<StaleFlag[]> {
  const rows = await db.any(sql.type(staleRow)`
    WITH unevaluated AS (
      SELECT f.key, 'not_evaluated'::text AS reason, u.last_evaluated_at, NULL::text AS value, coalesce(u.last_evaluated_at, f.created_at) AS since
      FROM flags f LEFT JOIN flag_usage u ON u.flag_key = f.key
      WHERE f.state = 'active' AND coalesce(u.last_evaluated_at, f.created_at) < now() - make_interval(days => ${options.unevaluatedDays})
    ), served AS (
      SELECT c.flag_key, min(c.value) AS value, count(DISTINCT (c.variant, c.value)) AS outcomes
      FROM flag_evaluation_counts c
      WHERE c.hour >= date_trunc('hour', now() - make_interval(days => ${options.singleValueDays}))
      GROUP BY c.flag_key
    ), single AS (
      SELECT f.key, 'single_value'::text AS reason, u.last_evaluated_at, s.value, f.updated_at AS since
      FROM flags f JOIN served s ON s.flag_key = f.key LEFT JOIN flag_usage u ON u.flag_key = f.key
      WHERE f.state = 'active' AND s.outcomes = 1 AND s.value <> '' AND f.updated_at < now() - make_interval(days => ${options.singleValueDays})
        AND f.key NOT IN (SELECT key FROM unevaluated)
    )
    SELECT key, reason, last_evaluated_at, value, since FROM (SELECT * FROM unevaluated UNION ALL SELECT * FROM single) stale
    ${options.after ? sql.fragment`WHERE key > ${options.after}` : sql.fragment``}
    ORDER BY key LIMIT ${options.limit}`);
  return rows.map((row) => ({ key: row.key, reason: row.reason, lastEvaluatedAt: row.last_evaluated_at, value: row.value, since: row.since }));
}

/** How many active flags are stale, by reason; the metrics read it at each scrape. */
export async function countFlagsByLifecycle(db: DatabasePool, options: { unevaluatedDays: number; singleValueDays: number }): Promise<{ active: number; archived: number; staleNotEvaluated: number; staleSingleValue: number }> {
  const states = await db.one(sql.type(z.object({ active: z.number(), archived: z.number() }))`
    SELECT count(*) FILTER (WHERE state = 'active')::int AS active, count(*) FILTER (WHERE state = 'archived')::int AS archived FROM flags`);
  const stale = await listStaleFlags(db, { ...options, limit: 100_000 });
  return {
    ...states,
    staleNotEvaluated: stale.filter((flag) => flag.reason === 'not_evaluated').length,
    staleSingleValue: stale.filter((flag) => flag.reason === 'single_value').length,
  };
}
