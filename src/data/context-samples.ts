import { z } from 'zod';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';

/** One filled reservoir slot of an API process: the kept attributes as JSON text. */
export interface SampledContextRow {
  /** '' for the overall sample, else the flag key. */
  scope: string;
  slot: number;
  context: string;
  token: string;
  /** Epoch milliseconds. */
  sampledAt: number;
}

/**
 * Replaces the given slots of `process`, then deletes rows older than the retention and, past the
 * row cap, the oldest rows of all processes. Not a write of the flag set: no write lock, no audit.
 */
export async function storeContextSamples(db: DatabasePool, process: string, rows: readonly SampledContextRow[], limits: { retentionDays: number; maxRows: number }): Promise<void> {
  const column = <K extends keyof SampledContextRow>(name: K) => rows.map((row) => row[name]);
  await db.transaction(async (tx) => {
    if (rows.length > 0) {
      await tx.query(sql.typeAlias('void')`
        INSERT INTO context_samples (process, scope, slot, context, token, sampled_at)
        SELECT ${process}, scope, slot, context::jsonb, token, to_timestamp(sampled_at / 1000.0)
        FROM unnest(${sql.array(column('scope'), 'text')}, ${sql.array(column('slot'), 'int4')}, ${sql.array(column('context'), 'text')},
                    ${sql.array(column('token'), 'text')}, ${sql.array(column('sampledAt'), 'float8')}) AS sampled (scope, slot, context, token, sampled_at)
        ON CONFLICT (process, scope, slot) DO UPDATE SET context = excluded.context, token = excluded.token, sampled_at = excluded.sampled_at`);
    }
    await tx.query(sql.typeAlias('void')`DELETE FROM context_samples WHERE sampled_at < now() - make_interval(days => ${limits.retentionDays})`);
    await tx.query(sql.typeAlias('void')`
      DELETE FROM context_samples WHERE ctid IN (SELECT ctid FROM context_samples ORDER BY sampled_at DESC OFFSET ${limits.maxRows})`);
  });
}

const samplesRow = z.object({ scope: z.string(), contexts: z.string() });

/**
 * The sampled contexts of the given scopes (flag keys, '' for the overall sample) of every process,
 * as one JSON array text per scope that has any: the caller hands the text to a worker thread,
 * which parses it there, off the evaluation path.
 */
export async function loadContextSamples(db: DatabasePool, scopes: readonly string[]): Promise<Record<string, string>> {
  const rows = await db.any(sql.type(samplesRow)`
    SELECT scope, jsonb_agg(context)::text AS contexts FROM context_samples
    WHERE scope = ANY(${sql.array(scopes, 'text')}) GROUP BY scope`);
  return Object.fromEntries(rows.map((row) => [row.scope, row.contexts]));
}

const tokenRow = z.object({ token: z.string(), contexts: z.number(), last_sampled_at: z.number() });

/** The tokens whose evaluations of a flag were sampled, most recent first: who still asks for it. */
export async function recentTokensOf(db: DatabasePool, flagKey: string): Promise<{ token: string; sampledContexts: number; lastSampledAt: string }[]> {
  const rows = await db.any(sql.type(tokenRow)`
    SELECT token, count(*)::int AS contexts, max(sampled_at) AS last_sampled_at FROM context_samples
    WHERE scope = ${flagKey} GROUP BY token ORDER BY max(sampled_at) DESC LIMIT 20`);
  return rows.map((row) => ({ token: row.token, sampledContexts: row.contexts, lastSampledAt: new Date(row.last_sampled_at).toISOString() }));
}

const shareRow = z.object({ flag: z.number(), total: z.number() });

/** The flag's share of every evaluation counted by insights over the last day: the traffic archiving it turns into not_found. */
export async function trafficShareOf(db: DatabasePool, flagKey: string): Promise<{ evaluations: number; ofAll: number; share: number }> {
  const row = await db.one(sql.type(shareRow)`
    SELECT coalesce(sum(count) FILTER (WHERE flag_key = ${flagKey}), 0)::float8 AS flag, coalesce(sum(count), 0)::float8 AS total
    FROM flag_evaluation_counts WHERE hour >= date_trunc('hour', now()) - interval '23 hours'`);
  return { evaluations: row.flag, ofAll: row.total, share: row.total === 0 ? 0 : row.flag / row.total };
}
