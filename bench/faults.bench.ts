// `npm run bench:faults`: the service as an operator runs it — PostgreSQL, the Temporal dev server, the
// worker and two API processes on ports of their own — under evaluation load from a second process,
// while things go wrong. Prints, section by section:
//  1. writes against evaluation: evaluation p50/p95/p99 at a fixed rate with no writes, with 32
//     concurrent writers on 1,000 flags, and while one segment used by all 1,000 flags is changed ten
//     times; and how long each segment change takes to be visible on both API processes;
//  2. event streams: PATCH latency with no subscribers and with 500 idle /v1/events subscribers;
//  3. memory: 300 bulk and 300 OFREP-bulk requests with a 1 MB context (answers and heap), and a
//     context nested 10,000 levels deep;
//  4. a PostgreSQL outage under evaluation load: failed evaluations, evaluation p99 before, during
//     and after, readiness and health during it, what writes sent during it got and how fast, whether
//     any of them was committed anyway, and the seconds from PostgreSQL's return to the first write
//     that succeeds; and the warn/error lines the service logged meanwhile.
// BENCH_FAULT_RATE (2000), BENCH_OUTAGE_SECONDS (8), BENCH_LOAD_RATE (3000), BENCH_FLAGS (1000),
// BENCH_WRITERS (32), BENCH_SUBSCRIBERS (500) and BENCH_PHASE_SECONDS (10) change the shape;
// BENCH_SECTIONS (1,2,3,4) picks sections.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTokenSecret } from '../src/data/tokens.ts';
import { type FlagDefinition } from '@flagship/engine';
import { validateFlag, validateSegment } from '@flagship/engine/validate';
import { startEmbeddedPostgres, type RunningPostgres } from '../src/launcher/embedded-postgres.ts';
import { createLogger } from '../src/log.ts';
import { freePorts } from '../test/support/ports.ts';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';
import { seedFlags } from './service.ts';

const FAULT_RATE = Number(process.env.BENCH_FAULT_RATE ?? 2_000);
const OUTAGE_SECONDS = Number(process.env.BENCH_OUTAGE_SECONDS ?? 8);
const LOAD_RATE = Number(process.env.BENCH_LOAD_RATE ?? 3_000);
const FLAG_COUNT = Number(process.env.BENCH_FLAGS ?? 1_000);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 32);
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 500);
const PHASE_SECONDS = Number(process.env.BENCH_PHASE_SECONDS ?? 10);
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? '1,2,3,4').split(',').map(Number));
const SHARED_SEGMENT = 'shared';
const PROBE_FLAG = 'segment-probe';

const root = new URL('../', import.meta.url).pathname;
const log = createLogger('silent');
const dataDir = mkdtempSync(join(tmpdir(), 'bench-faults-'));
chmodSync(dataDir, 0o755);
const pgPort = await freePorts(1);
const [portA, portB, temporalPort, uiPort] = [await freePorts(1), await freePorts(1), await freePorts(3), await freePorts(1)];
const adminToken = generateTokenSecret();
const urlA = `http://127.0.0.1:${portA}`;
const urlB = `http://127.0.0.1:${portB}`;
const baseEnv = {
  ...process.env,
  FLAGS_DATA_DIR: dataDir,
  FLAGS_ADMIN_TOKEN: adminToken,
  FLAGS_TEMPORAL_PORT: String(temporalPort),
  FLAGS_TEMPORAL_UI_PORT: String(uiPort),
  LOG_LEVEL: 'warn',
};

/** Everything the service processes printed, with the time each chunk arrived. */
const serviceOutput: { at: number; text: string }[] = [];
const children: ChildProcess[] = [];

function spawnService(entry: string, env: NodeJS.ProcessEnv, ready: (text: string) => boolean): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(root, entry)], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      serviceOutput.push({ at: Date.now(), text });
      output += text;
      if (ready(output)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code}:\n${output.slice(-3_000)}`)));
  });
}

interface Answer {
  status: number;
  ms: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- benchmark reads response fields directly
  body: any;
}

/** One HTTP call on a fresh connection (no agent), with a deadline; status 0 when there was no answer. */
function call(base: string, method: string, path: string, options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Answer> {
  const started = performance.now();
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return new Promise((resolve) => {
    const outgoing = request(
      new URL(path, base),
      {
        method,
        agent: false,
        timeout: options.timeoutMs ?? 30_000,
        headers: {
          authorization: `Bearer ${options.token ?? adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
          ...options.headers,
        },
      },
      (response: IncomingMessage) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.once('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: response.statusCode ?? 0, ms: performance.now() - started, body: parsed });
        });
      },
    );
    outgoing.once('timeout', () => outgoing.destroy(new Error('timeout')));
    outgoing.once('error', () => resolve({ status: 0, ms: performance.now() - started, body: null }));
    outgoing.end(body);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function latencySummary(latencies: number[]): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  if (sorted.length === 0) return 'no samples';
  return `p50 ${quantile(sorted, 0.5).toFixed(1)} ms  p95 ${quantile(sorted, 0.95).toFixed(1)} ms  p99 ${quantile(sorted, 0.99).toFixed(1)} ms  max ${sorted.at(-1)!.toFixed(1)} ms`;
}

function countStatuses(statuses: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

type Sample = [sentAt: number, latencyMs: number, status: number];

/** Runs the fixed-rate load generator in its own process; resolves with every request it made. */
function startLoad(options: { rate: number; seconds: number; token: string; bodies: string[] }): Promise<Sample[]> {
  const scenarioFile = join(dataDir, `load-${Date.now()}.json`);
  const resultFile = `${scenarioFile}.out`;
  writeFileSync(scenarioFile, JSON.stringify({
    baseUrls: [urlA, urlB],
    path: '/v1/evaluate',
    headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
    bodies: options.bodies,
    rate: options.rate,
    durationSeconds: options.seconds,
    connections: 32,
    timeoutMs: 10_000,
  }));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bench/fixed-rate-load.ts'), scenarioFile, resultFile], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the load generator exited with ${code}`));
      else resolve(JSON.parse(readFileSync(resultFile, 'utf8')) as Sample[]);
    });
  });
}

function phase(samples: Sample[], from: number, to: number): { latencies: number[]; statuses: number[] } {
  const inside = samples.filter(([sentAt]) => sentAt >= from && sentAt < to);
  return { latencies: inside.map(([, ms]) => ms), statuses: inside.map(([, , status]) => status) };
}

function phaseRow(name: string, samples: Sample[], from: number, to: number): string {
  const { latencies, statuses } = phase(samples, from, to);
  const failed = statuses.filter((status) => status !== 200).length;
  return `  ${name.padEnd(44)} ${String(latencies.length).padStart(6)} evaluations  ${String(failed).padStart(5)} failed   ${latencySummary(latencies)}   ${JSON.stringify(countStatuses(statuses))}`;
}

/** The 1,000 flags of the mix, each with one more rule on the shared segment (serving its default, so answers stay the mix's). */
function flagsOnSharedSegment(): FlagDefinition[] {
  return benchFlags(FLAG_COUNT).map((flag) => {
    const result = validateFlag({ ...flag, rules: [...flag.rules, { id: 'shared-segment', conditions: [{ segment: SHARED_SEGMENT }], serve: { value: flag.defaultValue } }] });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    return result.value;
  });
}

function sharedSegment(country: string) {
  const result = validateSegment({ key: SHARED_SEGMENT, name: 'Shared', conditions: [{ attribute: 'country', op: 'in', value: [country] }] });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.value;
}

/** Resident memory of a process, in MiB. */
function residentMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

async function heapUsedMiB(base: string): Promise<number> {
  const metrics = await call(base, 'GET', '/metrics');
  return Number(/^nodejs_heap_size_used_bytes (\d+)/m.exec(String(metrics.body))?.[1] ?? Number.NaN) / 1024 / 1024;
}

function logLinesSince(from: number, to: number): { warn: number; error: number; sample: string[] } {
  const lines = serviceOutput.filter((chunk) => chunk.at >= from && chunk.at < to).flatMap((chunk) => chunk.text.split('\n')).filter((line) => line.trim() !== '');
  const levelOf = (line: string) => Number(/"level":(\d+)/.exec(line)?.[1] ?? 0);
  return {
    warn: lines.filter((line) => levelOf(line) === 40).length,
    error: lines.filter((line) => levelOf(line) >= 50).length,
    sample: [...new Set(lines.map((line) => /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 120)))].slice(0, 8),
  };
}

/** Every process on the machine: parent and command line, to find the service's parts. */
function processTable(): Map<number, { ppid: number; command: string }> {
  const table = new Map<number, { ppid: number; command: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      table.set(Number(entry), { ppid, command: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // The process ended while the table was read.
    }
  }
  return table;
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

interface CpuReading {
  at: number;
  parts: Record<string, number>;
  machineBusy: number;
}

/**
 * CPU time so far of each part of the service (clock ticks of user and system time, the process
 * and its descendants that are part of it) and of the whole machine, which other work shares.
 */
function readCpu(roots: { launcher: number; apiB: number }): CpuReading {
  const table = processTable();
  const descendants = (root: number): number[] => {
    const found = [root];
    for (let index = 0; index < found.length; index += 1) for (const [pid, entry] of table) if (entry.ppid === found[index]) found.push(pid);
    return found;
  };
  const underLauncher = descendants(roots.launcher);
  const sum = (pids: number[]) => pids.reduce((total, pid) => total + cpuTicks(pid), 0);
  const postmaster = Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const [cpuLine] = readFileSync('/proc/stat', 'utf8').split('\n');
  const counters = cpuLine!.trim().split(/\s+/).slice(1).map(Number);
  return {
    at: performance.now(),
    parts: {
      'API A': cpuTicks(roots.launcher),
      'API B': cpuTicks(roots.apiB),
      worker: sum(underLauncher.filter((pid) => table.get(pid)?.command.includes('worker/main.ts'))),
      Temporal: sum(underLauncher.filter((pid) => table.get(pid)?.command.includes('temporal'))),
      PostgreSQL: sum(descendants(postmaster)),
      'load generator': sum([...table].filter(([, entry]) => entry.command.includes('fixed-rate-load.ts')).map(([pid]) => pid)),
    },
    machineBusy: counters.reduce((total, value, index) => (index === 3 || index === 4 ? total : total + value), 0),
  };
}

/** Cores used by each part between two readings (100 clock ticks a second). */
function cpuRow(from: CpuReading, to: CpuReading): string {
  const seconds = (to.at - from.at) / 1_000;
  const cores = (ticks: number) => (ticks / 100 / seconds).toFixed(2);
  // A process that ended between the readings (a load generator) has no reading left: not shown.
  const parts = Object.keys(to.parts)
    .filter((name) => to.parts[name]! >= (from.parts[name] ?? 0))
    .map((name) => `${name} ${cores(to.parts[name]! - (from.parts[name] ?? 0))}`);
  return `    cores used: ${parts.join(', ')}; the whole machine ${cores(to.machineBusy - from.machineBusy)} of ${cpus().length}`;
}

let postgres: RunningPostgres | undefined;
try {
  postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log });
  const databaseUrl = postgres.databaseUrl;
  const env = { ...baseEnv, DATABASE_URL: databaseUrl, FLAGS_MIGRATION_DATABASE_URL: postgres.migrationDatabaseUrl };
  const launcher = await spawnService('src/launcher/main.ts', { ...env, PORT: String(portA), FLAGS_API_PROCESSES: '1' }, (text) => text.includes('Feature-flag service ready'));
  const temporalAddress = `127.0.0.1:${temporalPort}`;
  const apiB = await spawnService('src/api/main.ts', { ...env, PORT: String(portB), TEMPORAL_ADDRESS: temporalAddress }, () => false);
  const cpu = () => readCpu({ launcher: launcher.pid!, apiB: apiB.pid! });
  console.log(`service up: PostgreSQL on ${pgPort}, Temporal on ${temporalPort}, worker, API processes on ${portA} (launcher) and ${portB}`);

  await seedFlags(databaseUrl, [...benchSegments(), sharedSegment('DE')], flagsOnSharedSegment());
  const probe = await call(urlA, 'POST', '/v1/flags', { body: { key: PROBE_FLAG, type: 'boolean', defaultValue: false, rules: [{ id: 'shared', conditions: [{ segment: SHARED_SEGMENT }], serve: { value: true } }] } });
  if (probe.status !== 201) throw new Error(`creating the probe flag: ${probe.status} ${JSON.stringify(probe.body)}`);
  for (const base of [urlA, urlB]) {
    for (let attempt = 0; ; attempt += 1) {
      const bulk = await call(base, 'POST', '/v1/evaluate/bulk', { body: { context: {} } });
      if (bulk.status === 200 && bulk.body.results.length === FLAG_COUNT + 1) break;
      if (attempt > 200) throw new Error(`${base} did not load the flags: ${bulk.status}`);
      await sleep(100);
    }
  }
  const created = await call(urlA, 'POST', '/v1/tokens', { body: { name: 'bench-evaluator', owner: { id: 'bench', kind: 'service' }, scopes: ['feature_flag:evaluate'] } });
  const evaluateToken = created.body.token as string;
  const contexts = benchContexts(10_000);
  const keys = benchFlags(FLAG_COUNT).map((flag) => flag.key);
  const bodies = contexts.map((context, index) => JSON.stringify({ flagKey: keys[(index * 7919) % keys.length], context }));
  console.log(`${FLAG_COUNT} flags (each with a rule on segment "${SHARED_SEGMENT}") loaded on both API processes\n`);

  // Warm-up: JIT, connection pools.
  await startLoad({ rate: LOAD_RATE, seconds: 3, token: evaluateToken, bodies });

  // 1. Writes against evaluation.
  if (SECTIONS.has(1)) {
    const versions = new Map(keys.map((key) => [key, 1]));
    const writeLatencies: number[] = [];
    const writeStatuses: number[] = [];
    const writeErrors = new Set<string>();
    const loadDone = startLoad({ rate: LOAD_RATE, seconds: PHASE_SECONDS * 3 + 1, token: evaluateToken, bodies });
    await sleep(500);
    const quietFrom = Date.now();
    const cpuQuiet = cpu();
    await sleep(PHASE_SECONDS * 1_000);
    const writesFrom = Date.now();
    const cpuWrites = cpu();
    const writesUntil = writesFrom + PHASE_SECONDS * 1_000;
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, writer) => {
        // Each writer changes its own flags, one write per second, so 32 writers keep about 32 writes in flight per second.
        for (let round = 0; Date.now() < writesUntil; round += 1) {
          const next = Date.now() + 1_000;
          const key = keys[(writer + round * WRITERS) % keys.length]!;
          const answer = await call(urlA, 'PATCH', `/v1/flags/${key}`, { body: { description: `write ${round} by ${writer}` }, headers: { 'if-match': `"${versions.get(key)}"` } });
          writeLatencies.push(answer.ms);
          writeStatuses.push(answer.status);
          if (answer.status === 200) versions.set(key, answer.body.version);
          else writeErrors.add(JSON.stringify(answer.body).slice(0, 200));
          await sleep(Math.max(0, next - Date.now()));
        }
      }),
    );
    const segmentFrom = Date.now();
    const cpuSegment = cpu();
    const visibility: number[] = [];
    const visibleAfterAnswer: number[] = [];
    const segmentLatencies: number[] = [];
    let segmentVersion = 1;
    for (let change = 0; change < 10; change += 1) {
      const next = Date.now() + PHASE_SECONDS * 100;
      const country = change % 2 === 0 ? 'FR' : 'DE';
      const started = performance.now();
      const answer = await call(urlA, 'PATCH', `/v1/segments/${SHARED_SEGMENT}`, { body: { conditions: [{ attribute: 'country', op: 'in', value: [country] }] }, headers: { 'if-match': `"${segmentVersion}"` } });
      segmentLatencies.push(answer.ms);
      if (answer.status !== 200) throw new Error(`segment PATCH: ${answer.status} ${JSON.stringify(answer.body)}`);
      segmentVersion = answer.body.version;
      const answered = performance.now();
      // The probe serves true exactly to contexts in the segment: poll both processes until they agree with the change.
      const expected = country === 'DE';
      const seenAfter = await Promise.all(
        [urlA, urlB].map(async (base) => {
          for (;;) {
            const probeAnswer = await call(base, 'POST', '/v1/evaluate', { token: evaluateToken, body: { flagKey: PROBE_FLAG, context: { userId: 'probe', country: 'DE' } } });
            if (probeAnswer.body?.value === expected) return performance.now() - answered;
            if (performance.now() - started > 10_000) throw new Error(`${base} never saw segment change ${change}`);
          }
        }),
      );
      visibility.push(performance.now() - started);
      visibleAfterAnswer.push(Math.max(...seenAfter));
      await sleep(Math.max(0, next - Date.now()));
    }
    const segmentUntil = Date.now();
    const cpuEnd = cpu();
    const samples = await loadDone;
    console.log(`1. Writes against evaluation: ${LOAD_RATE} evaluations/s over both API processes, ${FLAG_COUNT} flags`);
    console.log(phaseRow('no writes', samples, quietFrom, writesFrom));
    console.log(cpuRow(cpuQuiet, cpuWrites));
    console.log(phaseRow(`${WRITERS} writers (one PATCH per second each)`, samples, writesFrom, segmentFrom));
    console.log(cpuRow(cpuWrites, cpuSegment));
    console.log(phaseRow(`segment of all ${FLAG_COUNT} flags changed 10 times`, samples, segmentFrom, segmentUntil));
    console.log(cpuRow(cpuSegment, cpuEnd));
    console.log(`  writes: ${writeLatencies.length} PATCHes, ${latencySummary(writeLatencies)}  ${JSON.stringify(countStatuses(writeStatuses))}${writeErrors.size ? ` ${[...writeErrors].join(' | ')}` : ''}`);
    console.log(`  segment PATCHes: ${latencySummary(segmentLatencies)}`);
    console.log(`  a segment change visible on both API processes, from the PATCH's answer (its commit): ${visibleAfterAnswer.map((ms) => ms.toFixed(0)).join(', ')} ms; ${latencySummary(visibleAfterAnswer)}`);
    console.log(`  the same from the PATCH being sent (the PATCH re-checks the ${FLAG_COUNT} flags using the segment): ${latencySummary(visibility)}\n`);
  }

  // 2. Event streams.
  if (SECTIONS.has(2)) {
    const patchSeries = async (count: number): Promise<number[]> => {
      const latencies: number[] = [];
      let version = (await call(urlA, 'GET', `/v1/flags/${keys[0]}`)).body.version as number;
      for (let index = 0; index < count; index += 1) {
        const answer = await call(urlA, 'PATCH', `/v1/flags/${keys[0]}`, { body: { description: `stream ${index}` }, headers: { 'if-match': `"${version}"` } });
        if (answer.status !== 200) throw new Error(`PATCH: ${answer.status} ${JSON.stringify(answer.body)}`);
        version = answer.body.version;
        latencies.push(answer.ms);
        await sleep(20);
      }
      return latencies;
    };
    const idle = await patchSeries(100);
    // A few manage tokens share the subscribers, as several consumers would.
    const streamTokens: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      streamTokens.push((await call(urlA, 'POST', '/v1/tokens', { body: { name: `bench-stream-${index}`, owner: { id: `bench-stream-${index}`, kind: 'service' }, scopes: ['feature_flag:manage'] } })).body.token);
    }
    const streams: { status: number; close(): void }[] = [];
    await Promise.all(
      Array.from({ length: SUBSCRIBERS }, (_, index) =>
        new Promise<void>((resolve) => {
          const outgoing = request(new URL('/v1/events', urlA), { agent: false, headers: { authorization: `Bearer ${streamTokens[index % streamTokens.length]}`, accept: 'text/event-stream' } }, (response) => {
            response.resume();
            streams.push({ status: response.statusCode ?? 0, close: () => outgoing.destroy() });
            resolve();
          });
          outgoing.once('error', () => {
            streams.push({ status: 0, close: () => undefined });
            resolve();
          });
          outgoing.end();
        }),
      ),
    );
    await sleep(6_000); // longer than one poll period of the old per-stream polling
    const withStreams = await patchSeries(100);
    console.log('2. Event streams: PATCH latency on the API process that holds the streams');
    console.log(`  no subscribers                              ${latencySummary(idle)}`);
    console.log(`  ${SUBSCRIBERS} idle /v1/events subscribers ${JSON.stringify(countStatuses(streams.map((stream) => stream.status)))}`.padEnd(46) + `${latencySummary(withStreams)}`);
    for (const stream of streams) stream.close();
    console.log('');
  }

  // 3. Memory under oversized contexts, on the standalone API process (pid known, nothing else in it).
  if (SECTIONS.has(3)) {
    const heapBefore = await heapUsedMiB(urlB);
    const rssBefore = residentMiB(apiB.pid!);
    const big = 'x'.repeat(1_000_000);
    const statuses: Record<string, number[]> = { bulk: [], ofrep: [] };
    for (let index = 0; index < 300; index += 1) {
      const context = { userId: `user-${index}`, blob: big };
      statuses.bulk!.push((await call(urlB, 'POST', '/v1/evaluate/bulk', { token: evaluateToken, body: { context } })).status);
      statuses.ofrep!.push((await call(urlB, 'POST', '/ofrep/v1/evaluate/flags', { token: evaluateToken, body: { context } })).status);
    }
    // What the requests left behind, not the garbage they made: the lowest of readings over ten seconds.
    let heapAfter = Number.POSITIVE_INFINITY;
    for (let reading = 0; reading < 10; reading += 1) {
      await sleep(1_000);
      heapAfter = Math.min(heapAfter, await heapUsedMiB(urlB));
    }
    const rssAfter = residentMiB(apiB.pid!);
    // Written out by hand: JSON.stringify itself overflows the stack on 10,000 levels.
    const deep = `{"context":{"userId":"deep","nested":${'{"a":'.repeat(10_000)}"leaf"${'}'.repeat(10_000)}}}`;
    const deepBulk = await call(urlB, 'POST', '/v1/evaluate/bulk', { token: evaluateToken, rawBody: deep });
    const deepOfrep = await call(urlB, 'POST', '/ofrep/v1/evaluate/flags', { token: evaluateToken, rawBody: deep });
    console.log('3. Memory: 300 bulk and 300 OFREP-bulk requests, each with a different 1 MB context, to one API process');
    console.log(`  bulk answers ${JSON.stringify(countStatuses(statuses.bulk!))}, OFREP bulk answers ${JSON.stringify(countStatuses(statuses.ofrep!))}`);
    console.log(`  heap used ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB (${(heapAfter - heapBefore).toFixed(1)} MiB, lowest reading of the ten seconds after); resident ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB`);
    console.log(`  a context nested 10,000 levels deep: bulk ${deepBulk.status} ${JSON.stringify(deepBulk.body?.error?.code ?? deepBulk.body?.errorCode ?? '')}, OFREP bulk ${deepOfrep.status} ${JSON.stringify(deepOfrep.body?.errorCode ?? deepOfrep.body?.error?.code ?? '')}\n`);
  }

  // 4. A PostgreSQL outage under evaluation load.
  if (SECTIONS.has(4)) {
    const writeKeys = keys.slice(100, 110);
    const versionsBefore = new Map<string, number>();
    for (const key of writeKeys) versionsBefore.set(key, (await call(urlA, 'GET', `/v1/flags/${key}`)).body.version);
    const before = 8;
    const after = 10;
    const loadDone = startLoad({ rate: FAULT_RATE, seconds: before + OUTAGE_SECONDS + after, token: evaluateToken, bodies });
    const probes: { at: number; readyz: number; health: number }[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const [readyz, health] = await Promise.all([call(urlA, 'GET', '/readyz', { timeoutMs: 5_000 }), call(urlB, 'GET', '/health', { timeoutMs: 5_000 })]);
        probes.push({ at: Date.now(), readyz: readyz.status, health: health.status });
        await sleep(250);
      }
    })();
    await sleep(before * 1_000);
    const outageFrom = Date.now();
    await postgres.stop();
    postgres = undefined;
    await sleep(3_000);
    // Not awaited here: a write that hangs must not stretch the outage.
    const outageWritesDone = Promise.all(
      writeKeys.map((key) => call(urlA, 'PATCH', `/v1/flags/${key}`, { body: { description: 'written during the outage' }, headers: { 'if-match': `"${versionsBefore.get(key)}"` }, timeoutMs: 60_000 })),
    );
    await sleep(Math.max(0, outageFrom + OUTAGE_SECONDS * 1_000 - Date.now()));
    postgres = await startEmbeddedPostgres({ dataDir, port: pgPort, log });
    const backAt = Date.now();
    let firstWrite: Answer | undefined;
    const recoveryKey = keys[200]!;
    for (let attempt = 0; attempt < 600; attempt += 1) {
      const current = await call(urlA, 'GET', `/v1/flags/${recoveryKey}`, { timeoutMs: 5_000 });
      if (current.status === 200) {
        const answer = await call(urlA, 'PATCH', `/v1/flags/${recoveryKey}`, { body: { description: 'after the outage' }, headers: { 'if-match': `"${current.body.version}"` }, timeoutMs: 5_000 });
        if (answer.status === 200) {
          firstWrite = answer;
          break;
        }
      }
      await sleep(100);
    }
    const firstWriteSeconds = (Date.now() - backAt) / 1_000;
    const outageWrites = await outageWritesDone;
    const samples = await loadDone;
    probing = false;
    await prober;
    const loadEnd = Math.max(...samples.map(([sentAt]) => sentAt)) + 1;
    const loadStart = Math.min(...samples.map(([sentAt]) => sentAt));
    const outageUntil = backAt;
    const committedAnyway = [];
    for (const [index, key] of writeKeys.entries()) {
      const now = (await call(urlA, 'GET', `/v1/flags/${key}`)).body;
      if (outageWrites[index]!.status !== 200 && now.version !== versionsBefore.get(key)) committedAnyway.push(key);
    }
    const during = probes.filter((probe) => probe.at >= outageFrom && probe.at < outageUntil);
    const logs = logLinesSince(outageFrom, Date.now());
    console.log(`4. PostgreSQL stopped for ${OUTAGE_SECONDS} s (and started again) under ${FAULT_RATE} evaluations/s over both API processes`);
    console.log(phaseRow('whole run', samples, loadStart, loadEnd));
    console.log(phaseRow('before', samples, loadStart, outageFrom));
    console.log(phaseRow('during', samples, outageFrom, outageUntil));
    console.log(phaseRow('after', samples, outageUntil, loadEnd));
    console.log(`  ${writeKeys.length} PATCHes sent 3 s into the outage: ${latencySummary(outageWrites.map((answer) => answer.ms))}  ${JSON.stringify(countStatuses(outageWrites.map((answer) => answer.status)))}; committed although not answered 200: ${committedAnyway.length}`);
    console.log(`  first successful write ${firstWriteSeconds.toFixed(2)} s after PostgreSQL accepted connections again${firstWrite ? '' : ' (none within a minute)'}`);
    console.log(`  during the outage: /readyz ${JSON.stringify(countStatuses(during.map((probe) => probe.readyz)))}, /health ${JSON.stringify(countStatuses(during.map((probe) => probe.health)))}`);
    console.log(`  service log lines from the outage on: ${logs.warn} warn, ${logs.error} error; messages: ${JSON.stringify(logs.sample)}`);
  }
} catch (error) {
  console.error(`the benchmark failed: ${error instanceof Error ? error.stack : String(error)}`);
  console.error(serviceOutput.slice(-20).map((chunk) => chunk.text).join(''));
  process.exitCode = 1;
} finally {
  for (const child of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
  }
  await postgres?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
