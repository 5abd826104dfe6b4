// How far rollout steps land from their target times, on the real parts: an embedded PostgreSQL, a
// Temporal dev server and a worker. A plan of 10 steps at one-second spacing, three ways:
//   steady   — one worker throughout;
//   restart  — the worker is shut down after step 5 and a new one started at once;
//   kill     — the worker process is killed (SIGKILL) after step 5 and a new one started at once.
// Drift of a step = when its transaction wrote it (PostgreSQL's clock) − its target time.
//
// The Temporal server never fires a timer earlier than `history.timerProcessorMaxTimeShift` (default
// 1 s) after the moment it was created, so with steps 1 s apart the dev server's default config
// adds its own lateness; the project's temporal/dev-server.json lowers that floor to 10 ms
// (production plans, minutes to days apart, never meet it).
// A worker that dies without a goodbye leaves its cached workflows' next tasks on its sticky queue
// until the sticky schedule-to-start timeout (the SDK's default: 10 s) sends them to the shared
// queue; the bench's workers use the project's 2 s (`--sticky-timeout` to try others). A worker
// killed in the middle of a workflow task also leaves that task to the 10 s workflow task timeout.
// Usage: node bench/rollout-drift.ts [--steps 10] [--spacing-ms 1000] [--server-time-shift 10ms] [--sticky-timeout 2s] [--json]
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createActivities } from '../src/activities/index.ts';
import { startRollout } from '../src/api/rollout-control.ts';
import { planSchema } from '../src/api/rollout-plan.ts';
import { actorNamed } from '../src/data/actor.ts';
import { loadAuditSigner } from '../src/data/audit-signer.ts';
import { DEFAULT_TEMPORAL_CALL_TIMEOUT_MS } from '../src/config.ts';
import { createFlag } from '../src/data/flags.ts';
import { migrate } from '../src/data/migrate.ts';
import { createDatabasePool, type DatabasePool } from '../src/data/pool.ts';
import { getRollout } from '../src/data/rollouts.ts';
import { sql } from '../src/data/sql.ts';
import { startEmbeddedPostgres } from '../src/launcher/embedded-postgres.ts';
import { findTemporalCli } from '../src/launcher/temporal-cli.ts';
import { startTemporalDevServer } from '../src/launcher/temporal-dev-server.ts';
import { createLogger } from '../src/log.ts';
import { installTemporalRuntime } from '../src/worker/temporal-runtime.ts';
import { WORKFLOWS_PATH } from '../src/worker/start-worker.ts';
import { freePorts } from '../test/support/ports.ts';
import { createOutboundClient } from '../src/outbound/outbound-client.ts';
import { parseOutboundAllowList } from '../src/outbound/outbound-policy.ts';

const NAMESPACE = 'default';
const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'bench');
installTemporalRuntime(log, process.env.LOG_LEVEL ?? 'error');

// ── child mode: a worker in a process of its own, so the bench can kill it ──────────────────────
if (process.argv.includes('--child-worker')) {
  const [databaseUrl, address, taskQueue, bundlePath, sticky, scratchDir] = process.argv.slice(process.argv.indexOf('--child-worker') + 1);
  const db = await createDatabasePool(databaseUrl as string, { auditSigner: loadAuditSigner({ dataDir: scratchDir as string }) });
  const worker = await runWorker(db, address as string, taskQueue as string, bundlePath as string, sticky || undefined);
  process.stdout.write('ready\n');
  await worker.done;
  process.exit(0);
}

const { values: options } = parseArgs({
  options: {
    steps: { type: 'string', default: '10' },
    'spacing-ms': { type: 'string', default: '1000' },
    'server-time-shift': { type: 'string' },
    // The worker's setting in src/worker/start-worker.ts.
    'sticky-timeout': { type: 'string', default: '2s' },
    json: { type: 'boolean', default: false },
  },
});
const STEPS = Number(options.steps);
const STICKY = options['sticky-timeout'];
const SPACING_MS = Number(options['spacing-ms']);


async function runWorker(db: DatabasePool, address: string, taskQueue: string, bundlePath: string, stickyTimeout?: string) {
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: NAMESPACE,
    taskQueue,
    workflowBundle: { codePath: bundlePath },
    activities: createActivities({ db, log, outbound: createOutboundClient({ policy: parseOutboundAllowList(undefined) }) }),
    ...(stickyTimeout ? { stickyQueueScheduleToStartTimeout: stickyTimeout as `${number}s` } : {}),
  });
  const running = worker.run();
  return {
    done: running,
    async stop() {
      worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
    },
  };
}

/**
 * The dev server as the launcher starts it (search attributes and dynamic config from temporal/),
 * plus extra dynamic config values.
 */
async function startTunedDevServer(
  options: { cliPath: string; dataDir: string; port: number; uiPort: number; namespace: string },
  extra: Record<string, string>,
): Promise<{ address: string; stop: () => Promise<void> }> {
  mkdirSync(options.dataDir, { recursive: true });
  const config = new URL('../temporal/', import.meta.url).pathname;
  const searchAttributes = JSON.parse(readFileSync(join(config, 'search-attributes.json'), 'utf8')) as Record<string, string>;
  const { dynamicConfig } = JSON.parse(readFileSync(join(config, 'dev-server.json'), 'utf8')) as { dynamicConfig: Record<string, unknown> };
  const child = spawn(options.cliPath, [
    'server', 'start-dev', '--ip', '127.0.0.1', '--port', String(options.port), '--http-port', String(options.port + 1),
    '--metrics-port', String(options.port + 2), '--ui-port', String(options.uiPort), '--db-filename', join(options.dataDir, 'temporal.sqlite'),
    '--namespace', options.namespace, '--log-level', 'warn', '--ui-disable-news-fetch',
    ...Object.entries(searchAttributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...Object.entries({ ...dynamicConfig, ...extra }).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
  ], { stdio: 'ignore' });
  const address = `127.0.0.1:${options.port}`;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.describeNamespace({ namespace: options.namespace });
      await connection.close();
      break;
    } catch (error) {
      if (attempt > 300 || child.exitCode !== null) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return {
    address,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function spawnChildWorker(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--no-warnings', new URL(import.meta.url).pathname, '--child-worker', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`child worker exited with ${code}`)));
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

const stepRow = z.object({ step_index: z.number(), at: z.number(), target_at: z.number() });

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface ScenarioResult {
  scenario: string;
  drifts: number[];
  p50: number;
  p90: number;
  max: number;
  /** Drift of the first step due after the disruption, when there is one. */
  afterDisruption?: number[];
  lastStepDrift: number;
}

const scratch = mkdtempSync(join(tmpdir(), 'rollout-drift-'));
// PostgreSQL runs as its own user when we are root, and must be able to reach its folder.
chmodSync(scratch, 0o755);
const stops: (() => Promise<void>)[] = [];
try {
  const postgres = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), port: await freePorts(1), log });
  stops.push(postgres.stop);
  await migrate({ databaseUrl: postgres.migrationDatabaseUrl, log });
  const temporalOptions = { cliPath: findTemporalCli(process.env), dataDir: join(scratch, 'temporal'), port: await freePorts(3), uiPort: await freePorts(1), namespace: NAMESPACE, log };
  const timeShift = options['server-time-shift'];
  const temporal = timeShift ? await startTunedDevServer(temporalOptions, { 'history.timerProcessorMaxTimeShift': timeShift }) : await startTemporalDevServer(temporalOptions);
  stops.push(temporal.stop);
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
  const bundlePath = join(scratch, 'bundle.js');
  writeFileSync(bundlePath, bundle.code);
  const db = await createDatabasePool(postgres.databaseUrl, { auditSigner: loadAuditSigner({ dataDir: scratch }) });
  stops.push(() => db.end());
  const connection = await Connection.connect({ address: temporal.address });
  stops.push(() => connection.close());
  const client = new Client({ connection, namespace: NAMESPACE });

  const results: ScenarioResult[] = [];
  for (const scenario of ['steady', 'restart', 'kill'] as const) {
    const taskQueue = `drift-${scenario}`;
    const flagKey = `drift-${scenario}`;
    await createFlag(db, { key: flagKey, type: 'boolean', defaultValue: false }, { actor: actorNamed('bench') });
    const childArgs = [postgres.databaseUrl, temporal.address, taskQueue, bundlePath, STICKY ?? '', scratch];
    let inProcess = scenario === 'kill' ? null : await runWorker(db, temporal.address, taskQueue, bundlePath, STICKY);
    let child = scenario === 'kill' ? await spawnChildWorker(childArgs) : null;
    const plan = planSchema.parse({ steps: Array.from({ length: STEPS }, (_, index) => ({ percentage: ((index + 1) * 100) / STEPS, after: SPACING_MS })) });
    const record = await startRollout({ db, log, temporal: { client, namespace: NAMESPACE, taskQueue, callTimeoutMs: DEFAULT_TEMPORAL_CALL_TIMEOUT_MS } }, flagKey, plan, 'bench');
    const disruptAfter = Math.floor(STEPS / 2) - 1;
    let disruptedAt: number | null = null;
    if (scenario !== 'steady') {
      await waitFor(async () => ((await getRollout(db, record.id))?.currentStep ?? -1) >= disruptAfter, 60_000, `step ${disruptAfter + 1}`);
      disruptedAt = Date.now();
      if (scenario === 'restart') {
        await inProcess?.stop();
        inProcess = await runWorker(db, temporal.address, taskQueue, bundlePath, STICKY);
      } else {
        child?.kill('SIGKILL');
        child = await spawnChildWorker(childArgs);
      }
    }
    await waitFor(async () => (await getRollout(db, record.id))?.state === 'completed', 120_000, `${scenario} to complete`);
    const rows = await db.any(sql.type(stepRow)`
      SELECT step_index, at, target_at FROM rollout_history WHERE rollout_id = ${record.id} AND kind = 'step_applied' ORDER BY step_index`);
    const drifts = rows.map((row) => Math.round(row.at - row.target_at));
    const sorted = [...drifts].sort((a, b) => a - b);
    results.push({
      scenario,
      drifts,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      max: sorted.at(-1) ?? Number.NaN,
      ...(disruptedAt !== null ? { afterDisruption: drifts.slice(disruptAfter + 1, disruptAfter + 3) } : {}),
      lastStepDrift: drifts.at(-1) ?? Number.NaN,
    });
    await inProcess?.stop();
    if (child) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child?.once('exit', resolve));
    }
  }

  const setup = { steps: STEPS, spacingMs: SPACING_MS, serverTimeShift: timeShift ?? 'temporal/dev-server.json (10ms)', stickyTimeout: STICKY };
  if (options.json) console.log(JSON.stringify({ ...setup, results }, null, 2));
  else {
    console.log(`Rollout step drift: ${STEPS} steps, ${SPACING_MS} ms apart, server timer floor ${setup.serverTimeShift}, sticky timeout ${setup.stickyTimeout} (ms late after the target time)`);
    for (const result of results) {
      console.log(`  ${result.scenario.padEnd(8)} p50 ${String(result.p50).padStart(5)}  p90 ${String(result.p90).padStart(5)}  max ${String(result.max).padStart(6)}  last step ${String(result.lastStepDrift).padStart(5)}   per step: ${result.drifts.join(' ')}`);
    }
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch((error: unknown) => console.error(error));
  rmSync(scratch, { recursive: true, force: true });
}
