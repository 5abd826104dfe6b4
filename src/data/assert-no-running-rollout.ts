// Apart from rollouts.ts, which writes flags through flags.ts: the flag write path asks this, and
// importing the rollout module from there would close a cycle.
import { z } from 'zod';
import { ACTIVE_ROLLOUT_STATES } from '../domain/rollout-state.ts';
import { AppError } from '../errors.ts';
import { sql } from './sql.ts';
import type { WriteTransaction } from './write-transaction.ts';

const activeStates = sql.array([...ACTIVE_ROLLOUT_STATES], 'text');

/**
 * Refuses a change to a flag's `rollout` while a plan owns it (scheduled, running or paused):
 * `rollout_conflict`. Called by the flag write path under the write lock, so a plan accepted a
 * moment earlier is always seen. Rollout steps themselves bypass it (they are the owner).
 */
export async function assertNoRunningRollout(tx: WriteTransaction, flagKey: string): Promise<void> {
  const active = await tx.maybeOne(sql.type(z.object({ id: z.string(), state: z.string(), started_by: z.string() }))`
    SELECT id, state, started_by FROM rollouts WHERE flag_key = ${flagKey} AND state = ANY(${activeStates})`);
  if (active) {
    throw new AppError(
      'rollout_conflict',
      `flag "${flagKey}" has a ${active.state} rollout (${active.id}, started by ${active.started_by}) that owns its rollout; pause is not enough, cancel it first`,
      { rolloutId: active.id, state: active.state },
    );
  }
}
