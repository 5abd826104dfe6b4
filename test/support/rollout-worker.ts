import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { OutboundClient } from '../../src/outbound/outbound-client.ts';
import { startWorker } from '../../src/worker/start-worker.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { TEST_WRITE_TIMEOUT_MS, testAuditSigner } from './database.ts';
import { testLog } from './logger.ts';
import { publicOnlyPolicy } from './outbound.ts';

export interface RunningTestWorker {
  stop(): Promise<void>;
}

/**
 * The service's own worker (src/worker/start-worker.ts: activities, reconciler, worker settings) in
 * this process, on the shared test server unless `temporalAddress` says otherwise, with the
 * workflows bundled by global set-up; gates and webhooks reach public addresses only unless
 * `outbound` says otherwise.
 */
export async function startRolloutWorker(options: { databaseUrl: string; taskQueue: string; temporalAddress?: string; outbound?: OutboundClient }): Promise<RunningTestWorker> {
  return startWorker({
    databaseUrl: options.databaseUrl,
    temporalAddress: options.temporalAddress ?? requireEnv(ENV.temporalAddress),
    temporalNamespace: requireEnv(ENV.temporalNamespace),
    taskQueue: options.taskQueue,
    outboundPolicy: publicOnlyPolicy,
    ...(options.outbound ? { outbound: options.outbound } : {}),
    workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) },
    writeTimeoutMs: TEST_WRITE_TIMEOUT_MS,
    auditSigner: testAuditSigner(),
    log: testLog,
  });
}

const CHILD_ENTRY = new URL('./rollout-worker-child.ts', import.meta.url).pathname;

export interface ChildWorker {
  /** SIGKILL: no drain, no goodbye to the server, open connections simply die. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The service's worker in a process of its own, so a test can kill it the hard way. Resolves once it
 * polls. On a Temporal server of the test's own (`temporalAddress`), name its namespace too.
 */
export async function startChildWorker(options: { databaseUrl: string; taskQueue: string; temporalAddress?: string; temporalNamespace?: string; writeTimeoutMs?: number }): Promise<ChildWorker> {
  const child: ChildProcess = spawn(process.execPath, ['--no-warnings', CHILD_ENTRY], {
    env: {
      ...process.env,
      CHILD_DATABASE_URL: options.databaseUrl,
      CHILD_TASK_QUEUE: options.taskQueue,
      CHILD_TEMPORAL_ADDRESS: options.temporalAddress ?? requireEnv(ENV.temporalAddress),
      CHILD_TEMPORAL_NAMESPACE: options.temporalNamespace ?? requireEnv(ENV.temporalNamespace),
      CHILD_WRITE_TIMEOUT_MS: String(options.writeTimeoutMs ?? TEST_WRITE_TIMEOUT_MS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child worker did not start:\n${output}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('worker polling')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the child worker exited with ${code}:\n${output}`));
    });
  });
  return {
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A Temporal client on the shared test server; close the connection when done. */
export async function testTemporalClient(): Promise<{ client: Client; connection: Connection; namespace: string; address: string }> {
  const address = requireEnv(ENV.temporalAddress);
  const namespace = requireEnv(ENV.temporalNamespace);
  const connection = await Connection.connect({ address });
  return { client: new Client({ connection, namespace }), connection, namespace, address };
}

const HISTORIES_DIR = new URL('../fixtures/histories/', import.meta.url).pathname;

/** Where the approval workflow's recorded histories live (change-request-replay.test.ts replays them). */
export const CHANGE_HISTORIES_DIR = new URL('../fixtures/change-histories/', import.meta.url).pathname;

/**
 * With FLAGS_RECORD_HISTORIES=1, saves the workflow's history as a replay fixture
 * (test/fixtures/histories/<name>.json, or under `directory`), which the replay tests replay on every run.
 */
export async function recordHistory(handle: WorkflowHandle, name: string, directory = HISTORIES_DIR): Promise<void> {
  if (process.env.FLAGS_RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  mkdirSync(directory, { recursive: true });
  writeFileSync(`${directory}${name}.json`, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
}
