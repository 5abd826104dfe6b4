// How rollout steps land through faults, on the real parts: an embedded PostgreSQL, a Temporal dev
// server and the service's own worker (src/worker/start-worker.ts) in processes of their own. A plan
// of 10 steps one second apart, in these cases:
//   steady         — one worker throughout;
//   restart        — the worker is shut down after step 5 and a new one started at once;
//   kill           — the worker is killed (SIGKILL) between steps 5 and 6, and a new one started at once;
//   kill-mid-step  — the worker is killed while step 6's transaction runs (it waits on the write lock),
//                    with a new worker polling: the step is retried once its heartbeat is missed;
//   stall          — the worker is killed after step 4 and none runs for 20 s (--stall-ms): the
//                    overdue steps then land one minimum dwell apart;
//   outage         — the Temporal server is stopped after step 4 for 20 s and started again; the
//                    worker and an API-style client reconnect by themselves;
// and the cost of snapshot publication signals at 50 writes/s (--write-rate) for 20 s, signalling
// once per change (FLAGS_SNAPSHOT_SIGNAL_INTERVAL_MS=0, as before) and coalesced (the default), taking
// turns (--signal-rounds; --signal-intervals 0,250,1000 compares other intervals): CPU time of the Temporal server, the worker and PostgreSQL, signals sent,
// and publication lag.
//
// For each step: late = applied − planned time; drift = applied − due time (due is the planned time,
// moved by the minimum dwell after a delay); gap = applied − previous step applied. Times are
// PostgreSQL's clock (the step's transaction).
//
// The Temporal server never fires a timer earlier than `history.timerProcessorMaxTimeShift` (default
// 1 s) after it was created; temporal/dev-server.json lowers that floor to 100 ms, which 1 s steps need
// (production plans, minutes to days apart, never meet it). --server-time-shift sets it.
// Usage: node bench/rollout-drift.ts [--cases steady,restart,…,signals] [--steps 10] [--spacing-ms 1000]
//        [--stall-ms 20000] [--write-rate 50] [--write-seconds 20] [--signal-rounds 2] [--signal-intervals 0,1000] [--server-time-shift 100ms] [--json]
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import { z } from 'zod';
import { startRollout } from '../src/api/rollout-control.ts';
import { planSchema } from '../src/domain/rollout-plan.ts';
import { DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS, DEFAULT_TEMPORAL_CALL_TIMEOUT_MS } from '../src/config.ts';
import { actorNamed } from '../src/data/actor.ts';
import { loadAuditSigner } from '../src/data/audit-signer.ts';
import { createFlag, patchFlag } from '../src/data/flags.ts';
import { migrate } from '../src/data/migrate.ts';
import { createDatabasePool } from '../src/data/pool.ts';
import { getRollout } from '../src/data/rollouts.ts';
import { sql } from '../src/data/sql.ts';
import { WRITE_LOCK_KEY } from '../src/data/write-transaction.ts';
import { startEmbeddedPostgres } from '../src/launcher/embedded-postgres.ts';
import { findTemporalCli } from '../src/launcher/temporal-cli.ts';
import { startTemporalDevServer } from '../src/launcher/temporal-dev-server.ts';
import { createLogger } from '../src/log.ts';
import { openTemporalConnection } from '../src/open-temporal-connection.ts';
import { parseOutboundAllowList } from '../src/outbound/outbound-policy.ts';
import { loadSnapshotSigner } from '../src/snapshots/signing-key.ts';
import { createFolderSnapshotStore } from '../src/snapshots/snapshot-store.ts';
import { WORKFLOWS_PATH, startWorker } from '../src/worker/start-worker.ts';
import { SNAPSHOT_PUBLISHER_WORKFLOW_ID } from '../src/workflows/snapshot-publisher-workflow.ts';
import { freePorts } from '../test/support/ports.ts';

const NAMESPACE = 'default';
const DEV_SERVER_TIME_SHIFT = (JSON.parse(readFileSync(new URL('../temporal/dev-server.json', import.meta.url), 'utf8')) as { dynamicConfig: Record<string, string> }).dynamicConfig['history.timerProcessorMaxTimeShift'];
const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'bench');

interface ChildOptions {
  databaseUrl: string;
  address: string;
  taskQueue: string;
  bundlePath: string;
  /** Where the audit signing key is (every process of a service signs with the same one). */
  keysDir: string;
  /** With these, the worker publishes snapshots (the trigger and the publisher workflow). */
  snapshotsDir?: string;
  signalIntervalMs?: number;
  /** FLAGS_WRITE_TIMEOUT_MS; the default (1.5 s) unless given. */
  writeTimeoutMs?: number;
}

// ── child mode: the service's worker in a process of its own, so the bench can kill it and time its CPU ──
if (process.argv.includes('--child-worker')) {
  const options = JSON.parse(process.argv[process.argv.indexOf('--child-worker') + 1] as string) as ChildOptions;
  const worker = await startWorker({
    databaseUrl: options.databaseUrl,
    temporalAddress: options.address,
    temporalNamespace: NAMESPACE,
    taskQueue: options.taskQueue,
    workflowBundle: { codePath: options.bundlePath },
    // The production default: the bench's plans have no gates and its workers no webhooks.
    outboundPolicy: parseOutboundAllowList(undefined),
    auditSigner: loadAuditSigner({ dataDir: options.keysDir }),
    ...(options.writeTimeoutMs === undefined ? {} : { writeTimeoutMs: options.writeTimeoutMs }),
    log,
    ...(options.snapshotsDir
      ? { snapshots: { signer: loadSnapshotSigner({ dataDir: options.snapshotsDir }), store: createFolderSnapshotStore(join(options.snapshotsDir, 'snapshots')) }, snapshotSignalIntervalMs: options.signalIntervalMs ?? 0 }
      : {}),
  });
  process.once('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
  process.stdout.write('ready\n');
  await new Promise(() => {});
}

const ALL_CASES = ['steady', 'restart', 'kill', 'kill-mid-step', 'stall', 'outage', 'signals'] as const;
type CaseName = (typeof ALL_CASES)[number];

const { values: options } = parseArgs({
  options: {
    cases: { type: 'string', default: ALL_CASES.join(',') },
    steps: { type: 'string', default: '10' },
    'spacing-ms': { type: 'string', default: '1000' },
    'stall-ms': { type: 'string', default: '20000' },
    'write-rate': { type: 'string', default: '50' },
    'write-seconds': { type: 'string', default: '20' },
    'signal-rounds': { type: 'string', default: '2' },
    'signal-intervals': { type: 'string', default: `0,${DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS}` },
    'server-time-shift': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const CASES = options.cases.split(',').filter((name): name is CaseName => (ALL_CASES as readonly string[]).includes(name));
const STEPS = Number(options.steps);
const SPACING_MS = Number(options['spacing-ms']);
const STALL_MS = Number(options['stall-ms']);
const WRITE_RATE = Number(options['write-rate']);
const WRITE_SECONDS = Number(options['write-seconds']);
const SIGNAL_ROUNDS = Number(options['signal-rounds']);
const SIGNAL_INTERVALS = options['signal-intervals'].split(',').map(Number);
const CLOCK_TICKS_PER_SECOND = 100;

function spawnChildWorker(childOptions: ChildOptions): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--no-warnings', new URL(import.meta.url).pathname, '--child-worker', JSON.stringify(childOptions)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`child worker exited with ${code}`)));
  });
}

async function stopChildWorker(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU time (user + system) of a process and its children that have been waited for, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // After the command: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based in proc(5)).
  return fields.slice(11, 15).reduce((sum, value) => sum + Number(value), 0) / CLOCK_TICKS_PER_SECOND;
}

/** Processes whose command line names `needle`, and their children (PostgreSQL's backends). */
function processTree(needle: string): number[] {
  const parents = new Map<number, number>();
  const roots: number[] = [];
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const pid = Number(entry);
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      parents.set(pid, Number(stat[1]));
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(needle)) roots.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  const tree = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (!tree.has(pid) && tree.has(parent)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

function treeCpuSeconds(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuSeconds(pid);
    } catch {
      // A backend that ended meanwhile; its time is in its parent's cutime.
    }
  }
  return total;
}

const stepRow = z.object({ step_index: z.number(), at: z.number(), target_at: z.number() });

interface StepTiming {
  index: number;
  /** applied − planned, ms */
  late: number;
  /** applied − due (planned, or the end of the minimum dwell), ms */
  drift: number;
  /** applied − previous step applied, ms; null for the first */
  gap: number | null;
}

interface ScenarioResult {
  scenario: string;
  steps: StepTiming[];
  /** What happened and how long the parts took to come back, ms. */
  notes: Record<string, number>;
}

const scratch = mkdtempSync(join(tmpdir(), 'rollout-drift-'));
// PostgreSQL runs as its own user when we are root, and must be able to reach its folder.
chmodSync(scratch, 0o755);
const stops: (() => Promise<void>)[] = [];
const children = new Set<ChildProcess>();
try {
  const pgDataDir = join(scratch, 'pg');
  const postgres = await startEmbeddedPostgres({ dataDir: pgDataDir, port: await freePorts(1), log });
  stops.push(postgres.stop);
  await migrate({ databaseUrl: postgres.migrationDatabaseUrl, log });
  const temporalOptions = { cliPath: findTemporalCli(process.env), dataDir: join(scratch, 'temporal'), port: await freePorts(3), uiPort: await freePorts(1), namespace: NAMESPACE, log };
  const timeShift = options['server-time-shift'];
  const startServer = () => (timeShift ? startTunedDevServer(temporalOptions, { 'history.timerProcessorMaxTimeShift': timeShift }) : startTemporalDevServer(temporalOptions));
  let temporal = await startServer();
  stops.push(() => temporal.stop());
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
  const bundlePath = join(scratch, 'bundle.js');
  writeFileSync(bundlePath, bundle.code);
  const db = await createDatabasePool(postgres.databaseUrl, { auditSigner: loadAuditSigner({ dataDir: scratch }) });
  stops.push(() => db.end());
  // The API's own connection settings (lazy, reconnecting at least once a second).
  const connection = openTemporalConnection(temporal.address);
  stops.push(() => connection.close());
  const client = new Client({ connection, namespace: NAMESPACE });

  const workerFor = async (taskQueue: string, extra: Partial<ChildOptions> = {}) => {
    const child = await spawnChildWorker({ databaseUrl: postgres.databaseUrl, address: temporal.address, taskQueue, bundlePath, keysDir: scratch, ...extra });
    children.add(child);
    return child;
  };

  async function runPlan(
    scenario: CaseName,
    disrupt: (context: { rolloutId: string; taskQueue: string; worker: ChildProcess }) => Promise<{ worker: ChildProcess; notes: Record<string, number> }>,
    firstWorker: Partial<ChildOptions> = {},
  ): Promise<ScenarioResult> {
    const taskQueue = `drift-${scenario}`;
    await createFlag(db, { key: taskQueue, type: 'boolean', defaultValue: false }, { actor: actorNamed('bench') });
    const worker = await workerFor(taskQueue, firstWorker);
    const plan = planSchema.parse({ steps: Array.from({ length: STEPS }, (_, index) => ({ percentage: Math.round(((index + 1) * 100_000) / STEPS) / 1_000, after: SPACING_MS })) });
    const record = await startRollout({ db, log, temporal: { client, namespace: NAMESPACE, taskQueue, callTimeoutMs: DEFAULT_TEMPORAL_CALL_TIMEOUT_MS } }, taskQueue, plan, 'bench');
    const disrupted = await disrupt({ rolloutId: record.id, taskQueue, worker });
    await waitFor(async () => (await getRollout(db, record.id))?.state === 'completed', 180_000, `${scenario} to complete`);
    await stopChildWorker(disrupted.worker, 'SIGTERM');
    const rows = await db.any(sql.type(stepRow)`
      SELECT step_index, at, target_at FROM rollout_history WHERE rollout_id = ${record.id} AND kind = 'step_applied' ORDER BY step_index`);
    const planned = record.plan.steps.map((step) => step.targetAt);
    return {
      scenario,
      notes: disrupted.notes,
      steps: rows.map((row, index) => ({
        index: row.step_index,
        late: Math.round(row.at - (planned[row.step_index] as number)),
        drift: Math.round(row.at - row.target_at),
        gap: index === 0 ? null : Math.round(row.at - (rows[index - 1] as { at: number }).at),
      })),
    };
  }

  const currentStep = async (rolloutId: string) => (await getRollout(db, rolloutId))?.currentStep ?? -1;
  const afterStep = (rolloutId: string, step: number) => waitFor(async () => (await currentStep(rolloutId)) >= step, 60_000, `step ${step + 1}`);
  const appliedAt = async (rolloutId: string, step: number) =>
    (await db.oneFirst(sql.type(z.object({ at: z.number() }))`SELECT at FROM rollout_history WHERE rollout_id = ${rolloutId} AND kind = 'step_applied' AND step_index = ${step}`));

  const middle = Math.floor(STEPS / 2) - 1;
  const scenarios: Record<Exclude<CaseName, 'signals'>, () => Promise<ScenarioResult>> = {
    steady: () => runPlan('steady', async ({ worker }) => ({ worker, notes: {} })),
    restart: () =>
      runPlan('restart', async ({ rolloutId, taskQueue, worker }) => {
        await afterStep(rolloutId, middle);
        const stoppedAt = Date.now();
        await stopChildWorker(worker, 'SIGTERM');
        const next = await workerFor(taskQueue);
        return { worker: next, notes: { 'restart took': Date.now() - stoppedAt } };
      }),
    kill: () =>
      runPlan('kill', async ({ rolloutId, taskQueue, worker }) => {
        await afterStep(rolloutId, middle);
        const killedAt = Date.now();
        await stopChildWorker(worker, 'SIGKILL');
        const next = await workerFor(taskQueue);
        return { worker: next, notes: { 'new worker polling after': Date.now() - killedAt } };
      }),
    'kill-mid-step': () =>
      runPlan('kill-mid-step', async ({ rolloutId, taskQueue, worker }) => {
        await afterStep(rolloutId, middle);
        // Step middle+1's transaction will wait on the write lock: the worker dies in the middle of it.
        const lock = new pg.Client({ connectionString: postgres.databaseUrl });
        await lock.connect();
        await lock.query('SELECT pg_advisory_lock($1)', [WRITE_LOCK_KEY]);
        await waitFor(async () => {
          const result = await lock.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`);
          return (result.rows[0]?.n ?? 0) > 0;
        }, 30_000, 'the step waiting inside its transaction');
        const next = await workerFor(taskQueue);
        const killedAt = Date.now();
        await stopChildWorker(worker, 'SIGKILL');
        await lock.query('SELECT pg_advisory_unlock($1)', [WRITE_LOCK_KEY]);
        await lock.end();
        await afterStep(rolloutId, middle + 1);
        return { worker: next, notes: { 'interrupted step applied after the kill': Math.round((await appliedAt(rolloutId, middle + 1)) - killedAt) } };
        // With the default write deadline (1.5 s) the step would give up and wait for its retry
        // before the next worker polls: the killed worker would be between attempts, not inside one.
      }, { writeTimeoutMs: 60_000 }),
    stall: () =>
      runPlan('stall', async ({ rolloutId, taskQueue, worker }) => {
        await afterStep(rolloutId, middle - 1);
        const killedAt = Date.now();
        await stopChildWorker(worker, 'SIGKILL');
        await sleep(STALL_MS);
        const next = await workerFor(taskQueue);
        const polling = Date.now();
        await afterStep(rolloutId, middle);
        return { worker: next, notes: { 'no worker for': polling - killedAt, 'first step after the stall, after the new worker polled': Math.round((await appliedAt(rolloutId, middle)) - polling) } };
      }),
    outage: () =>
      runPlan('outage', async ({ rolloutId, worker }) => {
        await afterStep(rolloutId, middle - 1);
        const stoppedAt = Date.now();
        await temporal.stop();
        await sleep(STALL_MS);
        temporal = await startServer();
        const backAt = Date.now();
        // An API process's client: it answers again once its connection has reconnected.
        let clientBackAt = 0;
        await waitFor(async () => {
          try {
            await connection.withDeadline(Date.now() + 1_000, () => connection.workflowService.describeNamespace({ namespace: NAMESPACE }));
            clientBackAt = Date.now();
            return true;
          } catch {
            return false;
          }
        }, 60_000, 'the client to reconnect');
        await afterStep(rolloutId, middle);
        return {
          worker,
          notes: {
            'Temporal down for': backAt - stoppedAt,
            'client answering after Temporal answered': clientBackAt - backAt,
            'worker applied the next step after Temporal answered': Math.round((await appliedAt(rolloutId, middle)) - backAt),
          },
        };
      }),
  };

  const results: ScenarioResult[] = [];
  for (const name of CASES) {
    if (name === 'signals') continue;
    results.push(await scenarios[name]());
  }

  interface SignalResult {
    round: number;
    mode: string;
    intervalMs: number;
    writes: number;
    signals: number;
    publications: number;
    /** Workflow tasks of the publisher that timed out: a stall of the machine, not of the design. */
    taskTimeouts: number;
    cpuCores: { temporal: number; worker: number; postgres: number; total: number };
    lagMs: { p50: number; p95: number; max: number };
  }
  const signalResults: SignalResult[] = [];
  if (CASES.includes('signals')) {
    const keys = Array.from({ length: 50 }, (_, index) => `written-${index}`);
    const versions = new Map<string, number>();
    for (const key of keys) versions.set(key, (await createFlag(db, { key, type: 'number', defaultValue: 0 }, { actor: actorNamed('bench') })).version);
    let value = 0;
    // Each flag's writes follow one another; the flags' writes overlap, so the rate holds on a busy machine.
    const lastWrite = new Map<string, Promise<void>>();
    const write = (index: number): Promise<void> => {
      const key = keys[index % keys.length] as string;
      const next = (lastWrite.get(key) ?? Promise.resolve()).then(async () => {
        const flag = await patchFlag(db, key, { defaultValue: ++value }, versions.get(key) as number, { actor: actorNamed('bench') });
        versions.set(key, flag.version);
      });
      lastWrite.set(key, next);
      return next;
    };
    const modes = SIGNAL_INTERVALS.map((intervalMs) => [intervalMs === 0 ? 'one signal per change' : `coalesced, ${intervalMs} ms`, intervalMs] as const);
    for (const [round, [mode, intervalMs]] of Array.from({ length: SIGNAL_ROUNDS }, (_, index) => index).flatMap((index) => modes.map((entry) => [index + 1, entry] as const))) {
      // One publisher per namespace: end the previous mode's run so this worker starts its own.
      await client.workflow.getHandle(SNAPSHOT_PUBLISHER_WORKFLOW_ID).terminate('next bench mode').catch((error: unknown) => {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      });
      const snapshotsDir = join(scratch, `snapshots-${round}-${intervalMs}`);
      mkdirSync(snapshotsDir, { recursive: true });
      const worker = await workerFor(`signals-${round}-${intervalMs}`, { snapshotsDir, signalIntervalMs: intervalMs });
      await waitFor(async () => (await db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM snapshots`)) > 0, 30_000, 'a first snapshot');
      const pacedWrites = async (seconds: number) => {
        const started = Date.now();
        const writes: Promise<void>[] = [];
        for (let count = 0; count < seconds * WRITE_RATE; count += 1) {
          await sleep(Math.max(0, started + (count * 1_000) / WRITE_RATE - Date.now()));
          writes.push(write(count));
        }
        await Promise.all(writes);
        return writes.length;
      };
      await pacedWrites(3);
      const temporalPids = processTree(temporalOptions.dataDir);
      const postgresPids = processTree(pgDataDir);
      const before = { temporal: treeCpuSeconds(temporalPids), worker: cpuSeconds(worker.pid as number), postgres: treeCpuSeconds(processTree(pgDataDir)) };
      const signalsBefore = await publisherSignals(client);
      const fromId = await db.oneFirst(sql.type(z.object({ id: z.number() }))`SELECT coalesce(max(id), 0)::int AS id FROM outbox`);
      const started = Date.now();
      const writes = await pacedWrites(WRITE_SECONDS);
      const seconds = (Date.now() - started) / 1_000;
      const after = { temporal: treeCpuSeconds(temporalPids), worker: cpuSeconds(worker.pid as number), postgres: treeCpuSeconds([...new Set([...postgresPids, ...processTree(pgDataDir)])]) };
      const signals = (await publisherSignals(client)) - signalsBefore;
      const taskTimeouts = (await client.workflow.getHandle(SNAPSHOT_PUBLISHER_WORKFLOW_ID).fetchHistory()).events?.filter((event) => event.workflowTaskTimedOutEventAttributes).length ?? 0;
      const toId = await db.oneFirst(sql.type(z.object({ id: z.number() }))`SELECT coalesce(max(id), 0)::int AS id FROM outbox`);
      await waitFor(async () => (await db.oneFirst(sql.type(z.object({ v: z.number() }))`SELECT coalesce(max(version), 0)::int AS v FROM snapshots`)) >= toId, 30_000, 'the last write published');
      const lags = await db.anyFirst(sql.type(z.object({ lag: z.number() }))`
        SELECT extract(epoch FROM (SELECT min(s.published_at) FROM snapshots s WHERE s.version >= o.id) - o.at) * 1000 AS lag
        FROM outbox o WHERE o.id > ${fromId} AND o.id <= ${toId} AND o.type = 'flag.updated'`);
      const publications = await db.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM snapshots WHERE version > ${fromId} AND version <= ${toId}`);
      const cores = (part: keyof typeof before) => Math.round(((after[part] - before[part]) / seconds) * 100) / 100;
      const sortedLags = sorted([...lags]);
      signalResults.push({
        round,
        mode,
        intervalMs,
        writes,
        signals,
        publications,
        taskTimeouts,
        cpuCores: { temporal: cores('temporal'), worker: cores('worker'), postgres: cores('postgres'), total: Math.round((cores('temporal') + cores('worker') + cores('postgres')) * 100) / 100 },
        lagMs: { p50: Math.round(percentile(sortedLags, 50)), p95: Math.round(percentile(sortedLags, 95)), max: Math.round(sortedLags.at(-1) ?? Number.NaN) },
      });
      await stopChildWorker(worker, 'SIGTERM');
    }
  }

  const setup = { steps: STEPS, spacingMs: SPACING_MS, stallMs: STALL_MS, serverTimeShift: timeShift ?? `temporal/dev-server.json (${DEV_SERVER_TIME_SHIFT})`, writeRate: WRITE_RATE, writeSeconds: WRITE_SECONDS, signalRounds: SIGNAL_ROUNDS };
  if (options.json) console.log(JSON.stringify({ ...setup, results, signals: signalResults }, null, 2));
  else {
    if (results.length) {
      console.log(`Rollout steps: ${STEPS} steps ${SPACING_MS} ms apart, server timer floor ${setup.serverTimeShift}, the service's worker (heartbeat timeout 2 s, sticky timeout 2 s).`);
      console.log('late = applied − planned; drift = applied − due (planned, or the end of the minimum dwell); gap = applied − previous step applied (ms)');
      for (const result of results) {
        const late = sorted(result.steps.map((step) => step.late));
        const drift = sorted(result.steps.map((step) => step.drift));
        const gaps = result.steps.flatMap((step) => (step.gap === null ? [] : [step.gap]));
        console.log(
          `  ${result.scenario.padEnd(14)} late p50 ${String(percentile(late, 50)).padStart(6)} max ${String(late.at(-1)).padStart(6)}   drift p50 ${String(percentile(drift, 50)).padStart(4)} max ${String(drift.at(-1)).padStart(6)}   min gap ${String(Math.min(...gaps)).padStart(5)}`,
        );
        console.log(`    late  ${result.steps.map((step) => step.late).join(' ')}`);
        console.log(`    drift ${result.steps.map((step) => step.drift).join(' ')}`);
        console.log(`    gap   ${gaps.join(' ')}`);
        for (const [what, ms] of Object.entries(result.notes)) console.log(`    ${what}: ${ms} ms`);
      }
    }
    if (signalResults.length) {
      console.log(`Snapshot publication signals at ${WRITE_RATE} writes/s for ${WRITE_SECONDS} s (CPU in cores, from /proc: Temporal server, worker, PostgreSQL; lag = write committed → snapshot published):`);
      for (const result of signalResults) {
        console.log(
          `  round ${result.round}  ${result.mode.padEnd(32)} FLAGS_SNAPSHOT_SIGNAL_INTERVAL_MS=${String(result.intervalMs).padEnd(4)} writes ${result.writes}  signals ${String(result.signals).padStart(5)}  publications ${String(result.publications).padStart(3)}   cpu ${result.cpuCores.temporal} + ${result.cpuCores.worker} + ${result.cpuCores.postgres} = ${result.cpuCores.total}   lag p50 ${result.lagMs.p50} p95 ${result.lagMs.p95} max ${result.lagMs.max}${result.taskTimeouts ? `   (publisher workflow tasks timed out: ${result.taskTimeouts})` : ''}`,
        );
      }
    }
  }
} finally {
  for (const child of children) await stopChildWorker(child, 'SIGKILL');
  for (const stop of stops.reverse()) await stop().catch((error: unknown) => console.error(error));
  rmSync(scratch, { recursive: true, force: true });
}

/** How many `changed` signals the publisher's current run has received. */
async function publisherSignals(client: Client): Promise<number> {
  const history = await client.workflow.getHandle(SNAPSHOT_PUBLISHER_WORKFLOW_ID).fetchHistory();
  return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes).length;
}

/**
 * The dev server as the launcher starts it (search attributes and dynamic config from temporal/),
 * plus extra dynamic config values.
 */
async function startTunedDevServer(
  serverOptions: { cliPath: string; dataDir: string; port: number; uiPort: number; namespace: string },
  extra: Record<string, string>,
): Promise<{ address: string; stop: () => Promise<void> }> {
  mkdirSync(serverOptions.dataDir, { recursive: true });
  const config = new URL('../temporal/', import.meta.url).pathname;
  const searchAttributes = JSON.parse(readFileSync(join(config, 'search-attributes.json'), 'utf8')) as Record<string, string>;
  const { dynamicConfig } = JSON.parse(readFileSync(join(config, 'dev-server.json'), 'utf8')) as { dynamicConfig: Record<string, unknown> };
  const child = spawn(serverOptions.cliPath, [
    'server', 'start-dev', '--ip', '127.0.0.1', '--port', String(serverOptions.port), '--http-port', String(serverOptions.port + 1),
    '--metrics-port', String(serverOptions.port + 2), '--ui-port', String(serverOptions.uiPort), '--db-filename', join(serverOptions.dataDir, 'temporal.sqlite'),
    '--namespace', serverOptions.namespace, '--log-level', 'warn', '--ui-disable-news-fetch',
    ...Object.entries(searchAttributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...Object.entries({ ...dynamicConfig, ...extra }).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
  ], { stdio: 'ignore' });
  const address = `127.0.0.1:${serverOptions.port}`;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const probe = await Connection.connect({ address, connectTimeout: 1_000 });
      await probe.workflowService.describeNamespace({ namespace: serverOptions.namespace });
      await probe.close();
      break;
    } catch (error) {
      if (attempt > 300 || child.exitCode !== null) throw error;
      await sleep(200);
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
