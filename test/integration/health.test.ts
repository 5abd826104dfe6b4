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
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/launcher/embedded-postgres.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { testLog } from '../support/logger.ts';
import { freePorts } from '../support/ports.ts';
import { publicOnlyPolicy } from '../support/outbound.ts';

// This file runs its own PostgreSQL, because it stops it on purpose.
describe('GET /health', () => {
  let postgres: RunningPostgres;
  let pgPort: number;
  let dataDir: string;
  let db: DatabasePool;
  let opened: Awaited<ReturnType<typeof openApiDependencies>>;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'health-'));
    chmodSync(dataDir, 0o755);
    pgPort = await freePorts(1);
    postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log: testLog });
    await migrate({ databaseUrl: postgres.migrationDatabaseUrl });
    db = await createDatabasePool(postgres.databaseUrl);
    opened = await openApiDependencies({
      databaseUrl: postgres.databaseUrl,
      db,
      temporalAddress: requireEnv(ENV.temporalAddress),
      temporalNamespace: requireEnv(ENV.temporalNamespace),
      taskQueue: 'flags-test',
      dataDir,
      log: testLog,
      outboundPolicy: publicOnlyPolicy,
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

  it('answers 200 with every part up and the snapshot age', async () => {
    const response = await fetch(`${baseUrl}/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, { ok?: boolean }>;
    expect(body).toMatchObject({ status: 'ok', database: { ok: true }, temporal: { ok: true }, snapshot: { version: 3, ageSeconds: 12 } });
  });

  it('answers 503 naming the database while PostgreSQL is stopped, and 200 again once it is back', async () => {
    await postgres.stop();
    const down = await fetch(`${baseUrl}/health`);
    expect(down.status).toBe(503);
    const downBody = (await down.json()) as { status: string; database: { ok: boolean; error?: string }; temporal: { ok: boolean } };
    expect(downBody.status).toBe('unavailable');
    expect(downBody.database.ok).toBe(false);
    expect(downBody.database.error).toEqual(expect.any(String));
    expect(downBody.temporal.ok).toBe(true);

    postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log: testLog });
    const up = await fetch(`${baseUrl}/health`);
    expect(up.status).toBe(200);
  });
});
