import type { Connection } from '@temporalio/client';
import { sql } from '../data/sql.ts';
import { z } from 'zod';
import type { DatabasePool } from '../data/pool.ts';

export interface PartHealth {
  ok: boolean;
  latencyMs?: number;
  error?: string;
}

export interface SnapshotHealth {
  /** The newest published snapshot's version; absent until the publisher stored one. */
  version?: number;
  /** Seconds since that snapshot was published. */
  ageSeconds?: number;
  /** The version of the flag set this process evaluates, for comparison. */
  liveVersion?: number;
}

export interface Health {
  status: 'ok' | 'unavailable';
  database: PartHealth;
  temporal: PartHealth;
  snapshot: SnapshotHealth;
}

export interface HealthDependencies {
  db: DatabasePool;
  temporal: Connection;
  namespace: string;
  snapshot: () => SnapshotHealth | Promise<SnapshotHealth>;
  timeoutMs?: number;
}

async function timed(check: () => Promise<unknown>, timeoutMs: number): Promise<PartHealth> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** Asks each part the API needs to answer once, concurrently; the API is unavailable when one does not. */
export async function checkHealth(deps: HealthDependencies): Promise<Health> {
  const timeoutMs = deps.timeoutMs ?? 2_000;
  const [database, temporal] = await Promise.all([
    timed(() => deps.db.oneFirst(sql.type(z.object({ ok: z.number() }))`SELECT 1 AS ok`), timeoutMs),
    timed(
      () =>
        deps.temporal.withDeadline(Date.now() + timeoutMs, () =>
          deps.temporal.workflowService.describeNamespace({ namespace: deps.namespace }),
        ),
      timeoutMs,
    ),
  ]);
  // The snapshot's state is information, not a condition of health: it is read from the database,
  // so while that is down it is left out rather than failing the answer.
  const snapshot = await Promise.resolve()
    .then(() => deps.snapshot())
    .catch(() => ({}));
  return {
    status: database.ok && temporal.ok ? 'ok' : 'unavailable',
    database,
    temporal,
    snapshot,
  };
}
