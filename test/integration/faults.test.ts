import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { createSnapshotActivities } from '../../src/activities/snapshot-activities.ts';
import { startApi, type RunningApi } from '../../src/api/start-api.ts';
import { migrate } from '../../src/data/migrate.ts';
import { createDatabasePool, type DatabasePool } from '../../src/data/pool.ts';
import { sql } from '../../src/data/sql.ts';
import { generateTokenSecret } from '../../src/data/tokens.ts';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/launcher/embedded-postgres.ts';
import { loadSnapshotSigner } from '../../src/snapshots/signing-key.ts';
import { createFolderSnapshotStore } from '../../src/snapshots/snapshot-store.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { eventually } from '../support/eventually.ts';
import { testLog } from '../support/logger.ts';
import { publicOnlyPolicy } from '../support/outbound.ts';
import { freePorts } from '../support/ports.ts';

// This file runs its own PostgreSQL, because it stops it on purpose (never the suite's shared one).
describe('a PostgreSQL outage under evaluation load', () => {
  let postgres: RunningPostgres;
  let pgPort: number;
  let dataDir: string;
  let api: RunningApi;
  let db: DatabasePool;
  const adminToken = generateTokenSecret();
  let evaluateToken: string;
  const store = () => createFolderSnapshotStore(join(dataDir, 'snapshots'));

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the assertions read response bodies field by field
  async function call(base: string, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any; ms: number; retryAfter: string | null }> {
    const started = performance.now();
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.token ?? adminToken}`, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, ms: performance.now() - started, retryAfter: response.headers.get('retry-after') };
  }

  function startOne(port: number): Promise<RunningApi> {
    return startApi({
      databaseUrl: postgres.databaseUrl,
      temporalAddress: requireEnv(ENV.temporalAddress),
      temporalNamespace: requireEnv(ENV.temporalNamespace),
      taskQueue: 'flags-test',
      dataDir,
      snapshotStore: store(),
      host: '127.0.0.1',
      port,
      adminToken,
      outboundPolicy: publicOnlyPolicy,
      log: testLog,
    });
  }

  /** What the worker's publisher does after a change: the signed snapshot and token list into the store. */
  async function publish(): Promise<void> {
    await createSnapshotActivities({ db, log: testLog, signer: loadSnapshotSigner({ dataDir }), store: store() }).publishSnapshot();
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'faults-'));
    chmodSync(dataDir, 0o755);
    pgPort = await freePorts(1);
    postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log: testLog });
    await migrate({ databaseUrl: postgres.migrationDatabaseUrl });
    db = await createDatabasePool(postgres.databaseUrl);
    api = await startOne(await freePorts(1));
    for (let index = 0; index < 20; index += 1) {
      const created = await call(api.url, 'POST', '/v1/flags', { body: { key: `load-${index}`, type: 'boolean', defaultValue: false, rollout: { percentage: 50 } } });
      if (created.status !== 201) throw new Error(JSON.stringify(created.body));
    }
    evaluateToken = (await call(api.url, 'POST', '/v1/tokens', { body: { name: 'load', scopes: ['feature_flag:evaluate'] } })).body.token;
  });

  afterAll(async () => {
    await api.stop();
    await db.end();
    await postgres.stop();
  });

  it('answers every evaluation and stays ready; a write during it is 503 within 2 s and never committed; writes work again within 5 s', async () => {
    const statuses: number[] = [];
    const readiness: number[] = [];
    let running = true;
    const load = Promise.all(
      Array.from({ length: 6 }, async (_, worker) => {
        for (let index = 0; running; index += 1) {
          const answer = await call(api.url, 'POST', '/v1/evaluate', { token: evaluateToken, body: { flagKey: `load-${(worker + index) % 20}`, context: { userId: `u-${index}` } } }).catch(() => ({ status: 0 }));
          statuses.push(answer.status);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }),
    );
    const probe = (async () => {
      while (running) {
        readiness.push((await call(api.url, 'GET', '/readyz').catch(() => ({ status: 0 }))).status);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const before = (await call(api.url, 'GET', '/v1/flags/load-0')).body.version as number;
    await eventually(() => statuses.length, (count) => count > 200, 10_000);

    await postgres.stop();
    const atStop = statuses.length;
    // Once the set has noticed, /health says so, while /readyz stays 200 (the poller checks it throughout).
    const degraded = await eventually(() => call(api.url, 'GET', '/health'), (answer) => answer.body.flagSet.stale === true, 5_000);
    expect(degraded.value).toMatchObject({ status: 200, body: { status: 'degraded', database: { ok: false } } });

    const write = await call(api.url, 'PATCH', '/v1/flags/load-0', { body: { description: 'written during the outage' }, headers: { 'if-match': `"${before}"` } });
    expect(write.status).toBe(503);
    expect(write.body.error).toMatchObject({ code: 'unavailable', details: { outcome: 'not_committed' } });
    expect(write.retryAfter).toBe('1');
    expect(write.ms).toBeLessThan(2_000);
    const create = await call(api.url, 'POST', '/v1/flags', { body: { key: 'during-outage', type: 'boolean', defaultValue: true } });
    expect(create.status).toBe(503);
    expect(create.ms).toBeLessThan(2_000);
    await eventually(() => statuses.length, (count) => count > atStop + 1_500, 30_000);

    postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log: testLog });
    const recovered = await eventually(
      () => call(api.url, 'PATCH', '/v1/flags/load-0', { body: { description: 'after the outage' }, headers: { 'if-match': `"${before}"` } }),
      (answer) => answer.status === 200,
      10_000,
      100,
    );
    expect(recovered.ms).toBeLessThan(5_000);
    // The write answered 503 left no trace: the next version is the one written after the outage.
    expect(recovered.value.body).toMatchObject({ version: before + 1, description: 'after the outage' });
    const descriptions = await db.anyFirst(sql.type(z.object({ description: z.string().nullable() }))`
      SELECT after->>'description' AS description FROM audit_log WHERE entity_key = 'load-0' ORDER BY id`);
    expect(descriptions).not.toContain('written during the outage');
    expect(await db.maybeOneFirst(sql.type(z.object({ key: z.string() }))`SELECT key FROM flags WHERE key = 'during-outage'`)).toBeNull();
    await eventually(() => call(api.url, 'GET', '/health'), (answer) => answer.body.status === 'ok', 10_000);

    running = false;
    await Promise.all([load, probe]);
    expect(statuses.length).toBeGreaterThan(atStop + 1_500);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(readiness.filter((status) => status !== 200)).toEqual([]);
  });

  it('starts an API process while PostgreSQL is down from the last published snapshot, stale, and catches up when it returns', async () => {
    await call(api.url, 'POST', '/v1/flags', { body: { key: 'published-on', type: 'boolean', defaultValue: true } });
    await publish();
    // A change after the publication: the database has it, the published snapshot does not.
    expect((await call(api.url, 'PATCH', '/v1/flags/published-on', { body: { defaultValue: false }, headers: { 'if-match': '"1"' } })).status).toBe(200);

    await postgres.stop();
    const late = await startOne(await freePorts(1));
    try {
      const evaluation = await call(late.url, 'POST', '/v1/evaluate', { token: evaluateToken, body: { flagKey: 'published-on', context: { userId: 'u' } } });
      expect(evaluation).toMatchObject({ status: 200, body: { value: true, flagVersion: 1 } });
      expect((await call(late.url, 'GET', '/readyz')).status).toBe(200);
      const health = await call(late.url, 'GET', '/health');
      expect(health).toMatchObject({ status: 200, body: { status: 'degraded', flagSet: { source: 'snapshot', stale: true, confirmedAt: null }, database: { ok: false } } });
      expect((await call(late.url, 'POST', '/v1/evaluate/bulk', { token: evaluateToken, body: { context: { userId: 'u' } } })).body.results).toHaveLength(21);
      // The process that was running all along still answers from its own, newer set.
      expect((await call(api.url, 'POST', '/v1/evaluate', { token: evaluateToken, body: { flagKey: 'published-on', context: { userId: 'u' } } })).body).toMatchObject({ value: false, flagVersion: 2 });

      postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log: testLog });
      await eventually(
        () => call(late.url, 'POST', '/v1/evaluate', { token: evaluateToken, body: { flagKey: 'published-on', context: { userId: 'u' } } }),
        (answer) => answer.body?.value === false,
        10_000,
      );
      const caughtUp = await eventually(() => call(late.url, 'GET', '/health'), (answer) => answer.body.status === 'ok', 10_000);
      expect(caughtUp.value.body.flagSet).toMatchObject({ source: 'database', stale: false });
    } finally {
      await late.stop();
    }
  });
});
