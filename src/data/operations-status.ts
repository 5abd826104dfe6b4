import { z } from 'zod';
import { AFFECTS_EVALUATION } from './flag-set-source.ts';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';
import { ACTIVE_ROLLOUT_STATES } from '../domain/rollout-state.ts';

/** One rollout that is not finished, as the dashboards and alerts show it. */
export interface ActiveRolloutStatus {
  flagKey: string;
  state: 'scheduled' | 'running' | 'paused';
  /** Steps applied so far. */
  stepsApplied: number;
  steps: number;
  /** The percentage the plan last set (null before its first step, or for a distribution). */
  percentage: number | null;
  /** When the next step is due (epoch ms); null when none is. */
  nextStepAt: number | null;
  pauseCause: string | null;
  /** When it was paused (epoch ms), for paused ones. */
  pausedAt: number | null;
}

const activeRolloutRow = z.object({
  flag_key: z.string(),
  state: z.enum(ACTIVE_ROLLOUT_STATES),
  current_step: z.number(),
  steps: z.number(),
  percentage: z.number().nullable(),
  next_step_at: z.number().nullable(),
  pause_cause: z.string().nullable(),
  paused_at: z.number().nullable(),
});

/** The unfinished rollouts, oldest first, at most `limit` of them (a bound on the series they become). */
export async function activeRolloutStatus(db: DatabasePool, limit: number): Promise<ActiveRolloutStatus[]> {
  const rows = await db.any(sql.type(activeRolloutRow)`
    SELECT flag_key, state, current_step, jsonb_array_length(plan->'steps')::int AS steps,
           (expected_rollout->>'percentage')::float8 AS percentage, next_step_at, pause_cause, paused_at
    FROM rollouts WHERE state = ANY(${sql.array([...ACTIVE_ROLLOUT_STATES], 'text')})
    ORDER BY created_at, id LIMIT ${limit}`);
  return rows.map((row) => ({
    flagKey: row.flag_key,
    state: row.state,
    stepsApplied: row.current_step + 1,
    steps: row.steps,
    percentage: row.percentage,
    nextStepAt: row.next_step_at,
    pauseCause: row.pause_cause,
    pausedAt: row.paused_at,
  }));
}

/** Unfinished rollouts counted by state and, for paused ones, by cause (all of them, not only those with series). */
export async function rolloutCounts(db: DatabasePool): Promise<{ state: ActiveRolloutStatus['state']; pauseCause: string | null; count: number }[]> {
  const rows = await db.any(sql.type(z.object({ state: z.enum(ACTIVE_ROLLOUT_STATES), pause_cause: z.string().nullable(), count: z.number() }))`
    SELECT state, pause_cause, count(*)::int AS count FROM rollouts
    WHERE state = ANY(${sql.array([...ACTIVE_ROLLOUT_STATES], 'text')}) GROUP BY state, pause_cause`);
  return rows.map((row) => ({ state: row.state, pauseCause: row.pause_cause, count: row.count }));
}

/** Change requests waiting for a second person: how many, and since when the oldest waits (epoch ms). */
export async function pendingApprovals(db: DatabasePool): Promise<{ count: number; oldestSince: number | null }> {
  const row = await db.one(sql.type(z.object({ count: z.number(), oldest: z.number().nullable() }))`
    SELECT count(*)::int AS count, min(created_at) AS oldest FROM change_requests WHERE status = 'pending'`);
  return { count: row.count, oldestSince: row.oldest };
}

/**
 * How far the published snapshot is behind the flag set: the version it carries, when it was
 * published, and when the oldest change it does not carry yet was committed (null when it carries
 * every change). One row from the snapshots table and one index lookup in the outbox.
 */
export async function snapshotPublicationStatus(db: DatabasePool): Promise<{ version: number | null; publishedAt: number | null; oldestUnpublishedAt: number | null }> {
  const published = await db.maybeOne(sql.type(z.object({ version: z.number(), published_at: z.number() }))`
    SELECT version, published_at FROM snapshots ORDER BY version DESC LIMIT 1`);
  const oldestUnpublishedAt = await db.maybeOneFirst(sql.type(z.object({ at: z.number() }))`
    SELECT at FROM outbox WHERE id > ${published?.version ?? 0} AND ${AFFECTS_EVALUATION} ORDER BY id LIMIT 1`);
  return { version: published?.version ?? null, publishedAt: published?.published_at ?? null, oldestUnpublishedAt };
}
