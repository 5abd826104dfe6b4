import { ConnectionError, createPool, createTypeParserPreset, type DatabasePool } from 'slonik';
import { useAuditSigner, type AuditSigner } from './audit-signer.ts';
import { sql } from './sql.ts';
import { setWriteTimeout } from './write-transaction.ts';

export type { DatabasePool };

/**
 * bigint ids (outbox, audit) stay far below 2^53, so they are read as numbers: JSON-serialisable,
 * comparable, and what SSE ids and cursors carry. Timestamps stay slonik's epoch milliseconds.
 */
const typeParsers = [
  ...createTypeParserPreset().filter((parser) => parser.name !== 'int8'),
  { name: 'int8', parse: (value: string) => Number(value) },
];

export interface DatabasePoolOptions {
  maximumPoolSize?: number;
  /** Shown in pg_stat_activity, so each pool's connections can be told apart. */
  applicationName?: string;
  /** The deadline of every write through this pool (see inWriteTransaction). */
  writeTimeoutMs?: number | undefined;
  /** A process that writes (the API, the worker) passes its audit signer: every audit entry written through the pool is signed with it. */
  auditSigner?: AuditSigner | undefined;
}

/**
 * A slonik pool. Statement and transaction timeouts keep a stuck query from holding the write lock;
 * a lost server surfaces as an error per query, and the pool reconnects on its own. Opening a
 * connection gives up after two seconds and is tried twice, so a request that needs the database
 * while it is unreachable fails within a few seconds instead of queueing behind dead attempts.
 */
export async function createDatabasePool(databaseUrl: string, options: DatabasePoolOptions = {}): Promise<DatabasePool> {
  const url = new URL(databaseUrl);
  if (options.applicationName) url.searchParams.set('application_name', options.applicationName);
  const pool = await createPool(url.toString(), {
    maximumPoolSize: options.maximumPoolSize ?? 10,
    connectionTimeout: 2_000,
    connectionRetryLimit: 1,
    statementTimeout: 15_000,
    idleInTransactionSessionTimeout: 15_000,
    transactionRetryLimit: 0,
    queryRetryLimit: 0,
    // slonik resets a connection with DISCARD ALL each time it goes back to the pool: one more round
    // trip per query, two per short write. These pools keep no session state to reset: timeouts are
    // set per transaction (set_config(…, true)), locks are transaction locks, LISTEN has its own client.
    resetConnection: async () => undefined,
    // Opening a connection costs a SCRAM exchange (thousands of PBKDF2 rounds on both sides): keep
    // connections through the pauses of ordinary traffic rather than slonik's 5 s.
    idleTimeout: 60_000,
    typeParsers,
  });
  if (options.writeTimeoutMs !== undefined) setWriteTimeout(pool, options.writeTimeoutMs);
  if (options.auditSigner) useAuditSigner(pool, options.auditSigner);
  // slonik emits every failed query's error on the pool as well as throwing it to the caller, who
  // handles it. Without a listener Node would turn the emit into an ERR_UNHANDLED_ERROR thrown in
  // place of the real error (a lost connection then no longer looks like one).
  pool.on('error', () => undefined);
  return pool;
}

/**
 * A pool for a process that must start while PostgreSQL may be down (an API process serving the
 * last published snapshot): slonik's pool reads type ids from the database when it is created, so
 * when that first attempt fails it is retried in the background every `retryMs` until it succeeds.
 * Until then every query fails with a ConnectionError at once, like a pool whose server is down;
 * afterwards the methods are the real pool's. Resolves once the first attempt has succeeded or failed.
 */
export async function createDatabasePoolInBackground(
  databaseUrl: string,
  options: DatabasePoolOptions & { retryMs?: number; onFailedAttempt?: (error: unknown) => void } = {},
): Promise<DatabasePool> {
  let real: DatabasePool | undefined;
  let ended = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const attempt = async (): Promise<void> => {
    try {
      const pool = await createDatabasePool(databaseUrl, options);
      if (ended) {
        await pool.end();
        return;
      }
      real = pool;
    } catch (error) {
      options.onFailedAttempt?.(error);
      if (ended) return;
      retryTimer = setTimeout(() => void attempt(), options.retryMs ?? 1_000);
      retryTimer.unref();
    }
  };
  const notYet = () => Promise.reject(new ConnectionError('PostgreSQL has not been reachable since this process started'));
  const placeholder = {
    async end() {
      ended = true;
      clearTimeout(retryTimer);
      await real?.end();
    },
  };
  const pool = new Proxy(placeholder, {
    get(target, property) {
      if (property === 'end') return target.end;
      // Not a thenable: `await` and `return` from an async function must take the pool as it is.
      if (property === 'then') return undefined;
      if (real) {
        const value = Reflect.get(real, property) as unknown;
        return typeof value === 'function' ? value.bind(real) : value;
      }
      return notYet;
    },
  }) as unknown as DatabasePool;
  const writeTimeoutMs = options.writeTimeoutMs;
  if (writeTimeoutMs !== undefined) setWriteTimeout(pool, writeTimeoutMs);
  if (options.auditSigner) useAuditSigner(pool, options.auditSigner);
  await attempt();
  return pool;
}

/** One round trip that needs nothing but a connection: what /health asks the database. */
export async function pingDatabase(db: DatabasePool): Promise<void> {
  await db.query(sql.typeAlias('void')`SELECT 1`);
}
