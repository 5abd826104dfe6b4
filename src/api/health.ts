import type { Connection } from '@temporalio/client';
import { pingDatabase, type DatabasePool } from '../data/pool.ts';
import type { LiveFlagSet } from './live-flag-set.ts';
import type { LiveTokenSet } from './live-token-set.ts';

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
}

export interface FlagSetHealth {
  /** Where the set came from: the database, or the last published snapshot (PostgreSQL was down at start). */
  source: 'database' | 'snapshot';
  /** The outbox id of the newest change in the set. */
  version: number;
  flags: number;
  /** Whether the set may be behind the database: the last comparison with it failed. */
  stale: boolean;
  /** When the set was last confirmed current (ISO 8601); null if never (a snapshot not yet compared). */
  confirmedAt: string | null;
  /** Seconds since then: how old the answers may be. */
  secondsSinceConfirmed: number | null;
}

export interface Health {
  /** `ok`: every part answers; `degraded`: evaluations are served, something else is down or behind; `unavailable`: not ready. */
  status: 'ok' | 'degraded' | 'unavailable';
  /** What /readyz answers: this process can serve evaluations (a flag set and tokens are loaded). */
  ready: boolean;
  database: PartHealth;
  temporal: PartHealth;
  flagSet: FlagSetHealth;
  tokens: { count: number; version: number; stale: boolean };
  snapshot: SnapshotHealth;
}

export interface HealthDependencies {
  /** The read-side pool: a health check never waits behind writes for a connection. */
  db: DatabasePool;
  temporal: Connection;
  namespace: string;
  flagSet: Pick<LiveFlagSet, 'source' | 'version' | 'stale' | 'confirmedAt' | 'current'>;
  tokens: Pick<LiveTokenSet, 'size' | 'version' | 'stale'>;
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

/**
 * Readiness: this process can answer evaluations, because it holds a flag set (from the database or
 * a snapshot) and tokens to authenticate with. It does not depend on PostgreSQL or Temporal
 * answering now: a process whose database is away still serves every evaluation from memory, and
 * taking it out of a load balancer would turn a database blip into a read outage.
 */
export function isReady(deps: Pick<HealthDependencies, 'tokens'>): boolean {
  return deps.tokens.size > 0;
}

export function flagSetHealth(flagSet: HealthDependencies['flagSet'], now = Date.now()): FlagSetHealth {
  const confirmed = flagSet.confirmedAt > 0;
  return {
    source: flagSet.source,
    version: flagSet.version,
    flags: flagSet.current.size,
    stale: flagSet.stale,
    confirmedAt: confirmed ? new Date(flagSet.confirmedAt).toISOString() : null,
    secondsSinceConfirmed: confirmed ? Math.round((now - flagSet.confirmedAt) / 100) / 10 : null,
  };
}

/** Asks PostgreSQL and Temporal once, concurrently, and reports them with the state of the flag set and tokens. */
export async function checkHealth(deps: HealthDependencies): Promise<Health> {
  const timeoutMs = deps.timeoutMs ?? 2_000;
  const [database, temporal] = await Promise.all([
    timed(() => pingDatabase(deps.db), timeoutMs),
    timed(
      () =>
        deps.temporal.withDeadline(Date.now() + timeoutMs, () =>
          deps.temporal.workflowService.describeNamespace({ namespace: deps.namespace }),
        ),
      timeoutMs,
    ),
  ]);
  // The snapshot's publication is information, not a condition of health: it is read from the
  // database, so while that is down it is left out rather than failing the answer.
  const snapshot = await Promise.resolve()
    .then(() => deps.snapshot())
    .catch(() => ({}));
  const ready = isReady(deps);
  const flagSet = flagSetHealth(deps.flagSet);
  const everythingUp = database.ok && temporal.ok && !flagSet.stale && !deps.tokens.stale;
  return {
    status: !ready ? 'unavailable' : everythingUp ? 'ok' : 'degraded',
    ready,
    database,
    temporal,
    flagSet,
    tokens: { count: deps.tokens.size, version: deps.tokens.version, stale: deps.tokens.stale },
    snapshot,
  };
}
