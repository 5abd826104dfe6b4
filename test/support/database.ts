import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadAuditSigner, type AuditSigner } from '../../src/data/audit-signer.ts';
import { z } from 'zod';
import { createDatabasePool, type DatabasePool } from '../../src/data/pool.ts';
import { sql } from '../../src/data/sql.ts';
import { appendEvent, inWriteTransaction, type EventInput } from '../../src/data/write-transaction.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { eventually } from './eventually.ts';

export interface TestDatabase {
  /** As the application's role: what the API and the workers connect with. */
  url: string;
  /** As the owner (a superuser here): migrations, and tests that tamper underneath the application. */
  ownerUrl: string;
  name: string;
  /** The application's role, as `url`. */
  pool: DatabasePool;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: requireEnv(ENV.adminDatabaseUrl) });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

let signer: AuditSigner | undefined;

/** The audit key every test process signs with (generated once into the run's scratch folder), as a service's processes share one. */
export function testAuditSigner(): AuditSigner {
  signer ??= loadAuditSigner({ dataDir: requireEnv(ENV.scratchDir) });
  return signer;
}

/**
 * Production's write deadline is 1.5 s (FLAGS_WRITE_TIMEOUT_MS). On two cores shared with other test
 * files (and other suites) a test's write can wait longer than that for a core, and a test that is not
 * about the deadline must not fail for it; the tests' workers (rollout-worker.ts) get the same. The
 * deadline itself is tested on pools of its own: write-deadline.test.ts, and the API's own pools in
 * faults.test.ts and health.test.ts.
 */
export const TEST_WRITE_TIMEOUT_MS = 10_000;

/** A fresh database per test file, cloned from the migrated template: files never see each other's rows. */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  const template = options.migrated === false ? 'template0' : requireEnv(ENV.templateDatabase);
  await admin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  const url = requireEnv(ENV.appDatabaseUrl).replace(/\/[^/]*$/, `/${name}`);
  const ownerUrl = requireEnv(ENV.adminDatabaseUrl).replace(/\/[^/]*$/, `/${name}`);
  const pool = await createDatabasePool(url, { auditSigner: testAuditSigner(), writeTimeoutMs: TEST_WRITE_TIMEOUT_MS });
  return {
    url,
    ownerUrl,
    name,
    pool,
    async drop() {
      await pool.end();
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Appends one event through the real write path (sequenced after its commit, as every change's
 * event is) and answers with the outbox id it got. The tests that use it write one at a time.
 */
export async function writeTestEvent(db: DatabasePool, event: EventInput): Promise<number> {
  await inWriteTransaction(db, (tx) => appendEvent(tx, event));
  const id = await db.oneFirst(sql.type(z.object({ id: z.number().nullable() }))`
    SELECT max(id) AS id FROM outbox WHERE type = ${event.type} AND entity_key IS NOT DISTINCT FROM ${event.entityKey}`);
  if (id === null) throw new Error(`the event ${event.type} ${event.entityKey} was committed but is not in the outbox`);
  return id;
}

/** How many audit entries and events wait to be sequenced (committed, not yet numbered). */
export function waitingAppends(db: DatabasePool): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT ((SELECT count(*) FROM audit_pending) + (SELECT count(*) FROM outbox_pending))::int AS n`);
}

/**
 * Resolves once no audit entry or event waits to be sequenced: everything committed before the call
 * is then in the log. The writers' own runs (or the sweep) do the sequencing; this only waits.
 */
export async function untilSequenced(db: DatabasePool, timeoutMs = 10_000): Promise<void> {
  await eventually(() => waitingAppends(db), (waiting) => waiting === 0, timeoutMs);
}
