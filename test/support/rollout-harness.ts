import { randomUUID } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { DEFAULT_TEMPORAL_CALL_TIMEOUT_MS } from '../../src/config.ts';
import { sql } from '../../src/data/sql.ts';
import type { OutboundClient } from '../../src/outbound/outbound-client.ts';
import { startTestApi, type TestApi } from './api.ts';
import { untilSequenced } from './database.ts';
import { eventually } from './eventually.ts';
import { startRolloutWorker, testTemporalClient, type RunningTestWorker } from './rollout-worker.ts';

/** A JSON body as the API answers it: tests read into it freely and let the assertions check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions that read them
export type Json = any;

export interface RolloutHarness {
  api: TestApi;
  client: Client;
  connection: Connection;
  namespace: string;
  address: string;
  taskQueue: string;
  worker: RunningTestWorker | null;
  startWorker(): Promise<RunningTestWorker>;
  createFlag(key: string, extra?: Record<string, unknown>): Promise<Json>;
  rollout(key: string): Promise<Json>;
  /** Polls GET /v1/flags/:key/rollout until `predicate` holds. */
  waitForRollout(key: string, predicate: (rollout: Json) => boolean, what: string, timeoutMs?: number): Promise<Json>;
  flag(key: string): Promise<Json>;
  events(key: string, type?: string): Promise<{ id: number; type: string; payload: Json; at: number }[]>;
  close(): Promise<void>;
}

/**
 * An API on a fresh database whose rollouts go to a task queue of this test file's own, the
 * service's worker polling it in this process, and a Temporal client: parallel test files never
 * take each other's tasks. `outbound` is what the API checks gate URLs with and the worker probes
 * them with (production's policy, public addresses only, when absent).
 */
export async function startRolloutHarness(options: { worker?: boolean; outbound?: OutboundClient; api?: Parameters<typeof startTestApi>[1] } = {}): Promise<RolloutHarness> {
  const taskQueue = `rollouts-${randomUUID()}`;
  const temporal = await testTemporalClient();
  const api = await startTestApi({
    temporal: { client: temporal.client, namespace: temporal.namespace, taskQueue, callTimeoutMs: DEFAULT_TEMPORAL_CALL_TIMEOUT_MS, uiUrl: 'http://127.0.0.1:8233' },
    ...(options.outbound ? { outbound: options.outbound } : {}),
  }, options.api);
  const harness: RolloutHarness = {
    api,
    ...temporal,
    taskQueue,
    worker: null,
    async startWorker() {
      harness.worker = await startRolloutWorker({ databaseUrl: api.db.url, taskQueue, ...(options.outbound ? { outbound: options.outbound } : {}) });
      return harness.worker;
    },
    async createFlag(key, extra = {}) {
      const created = await api.request('POST', '/v1/flags', { body: { key, type: 'boolean', defaultValue: false, ...extra } });
      if (created.status !== 201) throw new Error(`creating ${key}: ${created.status} ${JSON.stringify(created.body)}`);
      return created.body;
    },
    async rollout(key) {
      const response = await api.request('GET', `/v1/flags/${key}/rollout`);
      if (response.status !== 200) throw new Error(`GET rollout of ${key}: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body;
    },
    async waitForRollout(key, predicate, what, timeoutMs = 30_000) {
      // Before the API has recorded the plan (an approved change starts it a moment later) the view answers 404: ask again.
      const probe = () => harness.rollout(key).catch(() => undefined);
      try {
        return (await eventually(probe, (rollout) => rollout !== undefined && predicate(rollout), timeoutMs)).value;
      } catch (error) {
        throw new Error(`${key}: ${what}: ${(error as Error).message}`, { cause: error });
      }
    },
    async flag(key) {
      return (await api.request('GET', `/v1/flags/${key}`)).body;
    },
    async events(key, type) {
      // An event is numbered a moment after its change commits (by its writer's sequencing run, or
      // the sweep): what the test has seen committed is in the outbox once nothing waits.
      await untilSequenced(api.db.pool);
      const rows = await api.db.pool.any(sql.type(z.object({ id: z.number(), type: z.string(), payload: z.record(z.string(), z.unknown()), at: z.number() }))`
        SELECT id, type, payload, at FROM outbox WHERE entity_key = ${key} ORDER BY id`);
      return type ? rows.filter((row) => row.type === type) : [...rows];
    },
    async close() {
      await harness.worker?.stop();
      await api.close();
      await temporal.connection.close();
    },
  };
  if (options.worker !== false) await harness.startWorker();
  return harness;
}

export function appliedSteps(rollout: Json): Json[] {
  return (rollout.history as Json[]).filter((entry) => entry.kind === 'step_applied');
}
