import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import type { FixtureActivities } from '../fixtures/workflows.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { quietTemporal } from '../support/logger.ts';

describe('the real Temporal server', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    quietTemporal();
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('runs a workflow with a timer and an activity that reads PostgreSQL to completion', async () => {
    const address = requireEnv(ENV.temporalAddress);
    const namespace = requireEnv(ENV.temporalNamespace);
    const taskQueue = `test-${randomUUID()}`;
    const nativeConnection = await NativeConnection.connect({ address });
    const activities: FixtureActivities = {
      currentDatabase: () => db.pool.oneFirst(sql.type(z.object({ name: z.string() }))`SELECT current_database() AS name`),
    };
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace,
      taskQueue,
      workflowsPath: new URL('../fixtures/workflows.ts', import.meta.url).pathname,
      activities,
    });
    const connection = await Connection.connect({ address });
    const client = new Client({ connection, namespace });
    try {
      const started = Date.now();
      const result = await worker.runUntil(
        client.workflow.execute('databaseNameAfterTimer', { taskQueue, workflowId: `fixture-${randomUUID()}`, args: [{ sleepMs: 500 }] }),
      );
      expect(result).toBe(db.name);
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });
});
