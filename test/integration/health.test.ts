import { mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createApp } from '../../src/api/app.ts';
import { openApiDependencies } from '../../src/api/open-dependencies.ts';
import { migrate } from '../../src/data/migrate.ts';
import { createDatabasePool, type DatabasePool } from '../../src/data/pool.ts';
import { ensureAdminToken, generateTokenSecret } from '../../src/data/tokens.ts';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/launcher/embedded-postgres.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { eventually } from '../support/eventually.ts';
import { testAuditSigner } from '../support/database.ts';
import { testLog } from '../support/logger.ts';
import { freePorts } from '../support/ports.ts';
import { publicOnlyPolicy } from '../support/outbound.ts';

// This file runs its own PostgreSQL, because it stops it on purpose.
describe('health: /livez, /readyz and /health', () => {
  let postgres: RunningPostgres;
  let pgPort: number;
  let dataDir: string;
  let db: DatabasePool;
  let opened: Awaited<ReturnType<typeof openApiDependencies>>;
  let server: Server;
  let baseUrl: string;
  const adminToken = generateTokenSecret();

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'health-'));
    chmodSync(dataDir, 0o755);
    pgPort = await freePorts(1);
    postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log: testLog });
    await migrate({ databaseUrl: postgres.migrationDatabaseUrl });
    db = await createDatabasePool(postgres.databaseUrl, { auditSigner: testAuditSigner() });
    opened = await openApiDependencies({
      databaseUrl: postgres.databaseUrl,
      db,
      temporalAddress: requireEnv(ENV.temporalAddress),
      temporalNamespace: requireEnv(ENV.temporalNamespace),
      taskQueue: 'flags-test',
      dataDir,
      log: testLog,
      outboundPolicy: publicOnlyPolicy,
      flagSetCheckIntervalMs: 200,
    });
    const app = createApp({ ...opened.deps, health: { ...opened.deps.health, snapshot: () => ({ version: 3, ageSeconds: 12 }), timeoutMs: 1_000 } });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.close();
    await opened.close();
    await db.end();
    await postgres.stop();
  });

  const get = async (path: string) => {
    const response = await fetch(`${baseUrl}${path}`);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the assertions read the body field by field
    return { status: response.status, body: (await response.json()) as any };
  };

  it('is live but not ready while no token exists to authenticate anyone, and ready once one does', async () => {
    expect(await get('/livez')).toEqual({ status: 200, body: { status: 'ok' } });
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body.status).toBe('not_ready');
    const health = await get('/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'unavailable', ready: false, tokens: { count: 0 } });

    await ensureAdminToken(db, adminToken);
    await eventually(() => get('/readyz'), (answer) => answer.status === 200, 5_000);
  });

  it('answers 200 "ok" with every part up, the flag set current and the snapshot age', async () => {
    const response = await get('/health');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: 'ok',
      ready: true,
      database: { ok: true },
      temporal: { ok: true },
      flagSet: { source: 'database', stale: false, confirmedAt: expect.any(String), secondsSinceConfirmed: expect.any(Number) },
      tokens: { count: 1, stale: false },
      snapshot: { version: 3, ageSeconds: 12 },
    });
    expect(response.body.flagSet.secondsSinceConfirmed).toBeLessThan(5);
  });

  it('stays ready through a PostgreSQL outage, reports it "degraded" with a stale flag set, evaluates, and is "ok" again after', async () => {
    const created = await fetch(`${baseUrl}/v1/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'through-the-outage', type: 'boolean', defaultValue: true }),
    });
    expect(created.status).toBe(201);

    await postgres.stop();
    const degraded = await eventually(() => get('/health'), (answer) => answer.body.flagSet?.stale === true, 5_000);
    expect(degraded.value.status).toBe(200);
    expect(degraded.value.body).toMatchObject({ status: 'degraded', ready: true, database: { ok: false, error: expect.any(String) }, temporal: { ok: true }, flagSet: { stale: true } });
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/livez')).status).toBe(200);
    const evaluation = await fetch(`${baseUrl}/v1/evaluate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ flagKey: 'through-the-outage', context: { userId: 'u-1' } }),
    });
    expect(evaluation.status).toBe(200);
    expect(await evaluation.json()).toMatchObject({ value: true, reason: 'default' });

    // An outage of a few seconds: long enough for a doubling back-off to fall a whole step behind.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    // The change listener says "catch up" (a null notice) once it listens again.
    let relistenedAt: number | undefined;
    const unsubscribe = opened.deps.changeFeed!.subscribe((notice) => {
      if (notice === null) relistenedAt ??= Date.now();
    });
    postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log: testLog });
    const back = Date.now();
    const ok = await eventually(() => get('/health'), (answer) => answer.body.status === 'ok', 10_000);
    expect(ok.value.body).toMatchObject({ database: { ok: true }, flagSet: { stale: false } });
    await eventually(() => relistenedAt, (at) => at !== undefined, 5_000);
    unsubscribe();
    // It retries every second at most while the database is away, so it is back within about a second.
    expect(relistenedAt! - back).toBeLessThan(1_500);
  });

  it('lists the three health routes in the OpenAPI document, without a scope', async () => {
    const { body } = await get('/openapi.json');
    for (const path of ['/livez', '/readyz', '/health']) expect(body.paths[path]?.get?.security).toEqual([]);
  });
});
