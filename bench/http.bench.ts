// `npm run bench:http`: the service on its embedded default with 10,000 flags, loaded over real HTTP
// from other processes, side by side with two servers doing the same evaluations:
// - a bare node:http server around the same engine and flag mix (bench/bare-evaluation-server.ts):
//   what Node itself serves on this machine, the ceiling ours is measured against;
// - the same handler as the only middleware of a Koa application ("Koa alone"): the floor of any
//   service that stays on Koa, the owner's framework, which the issue's targets are read against;
// - flagd's Go evaluator (github.com/open-feature/flagd/core, the daemon's engine) behind a net/http
//   OFREP endpoint (bench/flagd-go, built into .tools by scripts/tools/flagd-evaluator.ts), over the
//   same flags translated to flagd's format (bench/flagd-flag-set.ts): the nearest flagd that can be
//   built here, since the Go module proxy refuses the daemon's own module (flagd/flagd) but serves
//   its core. One process on every core, as Go runs;
// - the flagd-core (JS) OFREP server (bench/flagd-core-ofrep-server.ts): flagd's JavaScript
//   evaluator, the in-process provider's engine, over the same flags.
// The Node servers run as two processes sharing a port, as ours does. In rounds, alternating the servers so
// that a neighbour's load falls on all of them alike, it measures `/v1/evaluate` and OFREP single
// flat out (wrk, 128 connections) and at a fixed 5,000/s (autocannon), and prints the ratios the
// issue asks for. Then ours alone: bulk evaluation of 50 flags, OFREP bulk, the snapshot with and
// without If-None-Match, start-up time and memory.
//
// Every row gives the servers' CPU time per request (from /proc): on a busy machine throughput and
// latency move with the neighbours' load, CPU per request much less. The fixed-rate runs use 16
// keep-alive connections (BENCH_RATE_CONNECTIONS), a service's usual pool.
//
// BENCH_API_PROCESSES (2), BENCH_FLAGS (10000), BENCH_SECONDS (10 per run), BENCH_ROUNDS (2) change
// the shape; BENCH_ONLY runs only the rows whose name contains it (`BENCH_ONLY=ours`);
// BENCH_BEFORE_CHECKOUT=<folder with another checkout, node_modules included> adds that checkout's
// API processes (same database) as "before", for a before/after in one run; BENCH_PROFILE=1 runs the
// service's processes under `node --cpu-prof` and prints where the first API process spent its time.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFlagdEvaluator, flagdCoreVersion } from '../scripts/tools/flagd-evaluator.ts';
import { ensureWrk } from '../scripts/tools/wrk.ts';
import { freePorts } from '../test/support/ports.ts';
import { formatProfileSummary, summariseCpuProfile } from './cpu-profile-summary.ts';
import { toFlagdConfiguration } from './flagd-flag-set.ts';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';
import { cpuSeconds, prepareBenchService, seedFlags } from './service.ts';

const API_PROCESSES = Number(process.env.BENCH_API_PROCESSES ?? 2);
const FLAG_COUNT = Number(process.env.BENCH_FLAGS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const ONLY = process.env.BENCH_ONLY;
const BEFORE = process.env.BENCH_BEFORE_CHECKOUT;
const PROFILE = process.env.BENCH_PROFILE === '1';
const FLAT_OUT_CONNECTIONS = 128;
const FIXED_RATE = 5_000;
const RATE_CONNECTIONS = Number(process.env.BENCH_RATE_CONNECTIONS ?? 16);
const root = new URL('../', import.meta.url).pathname;

const scratch = mkdtempSync(join(tmpdir(), 'bench-http-'));
const profileDir = join(scratch, 'profiles');
const bench = await prepareBenchService({
  FLAGS_API_PROCESSES: String(API_PROCESSES),
  ...(PROFILE ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profileDir}`.trim() } : {}),
});
const { dataDir, baseUrl, databaseUrl } = bench;
const { startService, stopService, apiMemory } = bench;
const wrk = ensureWrk({ log: (message) => console.log(message) });
let service: ChildProcess | undefined;
const helpers: ChildProcess[] = [];

const included = (name: string) => !ONLY || name.includes(ONLY);

/** Spawns a helper server and resolves once it says it listens (over IPC). */
function spawnServer(entry: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const child = spawn(process.execPath, [entry, ...args], { env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  helpers.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code} before it listened`)));
  });
}

const FLAGD_GO_NAME = `flagd Go evaluator ${flagdCoreVersion()}, OFREP single`;

/** A server that is not a Node script: it prints "listening" once it accepts connections. */
function spawnExecutable(executable: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  helpers.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${executable} exited with ${code} before it listened`)));
  });
}

/** One server's endpoint under load: where to send what, and whose CPU time it costs. */
interface Target {
  name: string;
  base: string;
  /** Requests as "<path> <body>" lines, rotated. */
  requests: string[];
  pids: () => number[];
}

interface Measured {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  cpuMicrosPerRequest: number;
  failures: string;
}

function measureCpu<T extends { requests: number }>(target: Target, run: () => T): T & { cpuMicrosPerRequest: number } {
  const pids = target.pids();
  const before = cpuSeconds(pids);
  const result = run();
  return { ...result, cpuMicrosPerRequest: ((cpuSeconds(pids) - before) * 1e6) / Math.max(1, result.requests) };
}

function flatOut(target: Target, token: string): Measured {
  const file = join(scratch, 'wrk-requests.txt');
  writeFileSync(file, `${target.requests.join('\n')}\n`);
  const result = measureCpu(target, () => {
    const run = spawnSync(wrk.executablePath, ['-t2', `-c${FLAT_OUT_CONNECTIONS}`, `-d${SECONDS}s`, '--timeout', '5s', '-s', join(root, 'bench/wrk-requests.lua'), target.base, '--', file, `Authorization: Bearer ${token}`], {
      encoding: 'utf8',
      env: { ...process.env, ...wrk.env },
    });
    const line = run.stdout.trim().split('\n').at(-1) ?? '';
    if (run.status !== 0 || !line.startsWith('{')) throw new Error(`wrk failed: ${run.stderr || run.stdout}`);
    return JSON.parse(line) as { requests: number; seconds: number; p50: number; p99: number; max: number; non2xx: number; connectErrors: number; readErrors: number; writeErrors: number; timeouts: number };
  });
  const errors = result.connectErrors + result.readErrors + result.writeErrors + result.timeouts;
  return { name: target.name, rps: result.requests / result.seconds, p50: result.p50, p99: result.p99, max: result.max, cpuMicrosPerRequest: result.cpuMicrosPerRequest, failures: `non-2xx ${result.non2xx}, errors ${errors}` };
}

/** Runs bench/http-load.ts (autocannon) on a scenario; its result line, with the target's CPU per request. */
function autocannon(target: Pick<Target, 'pids'>, scenario: Record<string, unknown>) {
  // The scenario (10,000 request bodies) goes through a file: it is too large for argv.
  const scenarioFile = join(scratch, 'scenario.json');
  writeFileSync(scenarioFile, JSON.stringify(scenario));
  return measureCpu({ name: '', base: '', requests: [], ...target }, () => {
    const result = spawnSync(process.execPath, [join(root, 'bench/http-load.ts'), scenarioFile], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (result.status !== 0) throw new Error(`load generator failed: ${result.error ?? result.stderr}`);
    return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { requests: number; rps: number; p50: number; p95: number; p99: number; max: number; errors: number; statusCodes: Record<string, number> };
  });
}

function fixedRate(target: Target, token: string): Measured {
  const [path] = target.requests[0]!.split(' ', 1);
  const result = autocannon(target, {
    name: target.name,
    url: `${target.base}${path}`,
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    paths: target.requests.map((line) => line.slice(0, line.indexOf(' '))),
    bodies: target.requests.map((line) => line.slice(line.indexOf(' ') + 1)),
    connections: RATE_CONNECTIONS,
    durationSeconds: SECONDS,
    overallRate: FIXED_RATE,
  });
  const failed = Object.entries(result.statusCodes).filter(([code]) => code !== '200').map(([code, count]) => `${code}: ${count}`);
  return { name: target.name, rps: result.rps, p50: result.p50, p99: result.p99, max: result.max, cpuMicrosPerRequest: result.cpuMicrosPerRequest, failures: `non-2xx ${failed.join(', ') || 0}, errors ${result.errors}` };
}

const row = (result: Measured) =>
  `  ${result.name.padEnd(44)} ${result.rps.toFixed(0).padStart(7)} req/s   p50 ${result.p50.toFixed(2).padStart(6)} ms   p99 ${result.p99.toFixed(2).padStart(6)} ms   max ${result.max.toFixed(1).padStart(6)} ms   CPU ${result.cpuMicrosPerRequest.toFixed(0).padStart(4)} µs/req   ${result.failures}`;

const loadAverage = () => loadavg().map((value) => value.toFixed(2)).join(' ');

try {
  const cold = await startService();
  service = cold.child;
  console.log(`service up (empty, cold: initdb + Temporal dev server): ${cold.seconds.toFixed(1)} s`);
  await seedFlags(databaseUrl(), benchSegments(), benchFlags(FLAG_COUNT));
  await stopService(cold.child);
  rmSync(profileDir, { recursive: true, force: true });
  const warm = await startService();
  service = warm.child;
  const memory = apiMemory(service);
  console.log(`service up with ${FLAG_COUNT} flags, ${API_PROCESSES} API process(es): ${warm.seconds.toFixed(1)} s; resident memory (MiB): launcher with API + worker ${memory[0]!.toFixed(0)}${memory.slice(1).map((mib) => `, API ${mib.toFixed(0)}`).join('')}`);

  const adminToken = bench.adminToken();
  const tokenResponse = await fetch(`${baseUrl}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-evaluator', owner: { id: 'bench', kind: 'service' }, scopes: ['feature_flag:evaluate'] }),
  });
  const token = ((await tokenResponse.json()) as { token: string }).token;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const contexts = benchContexts(10_000);
  const keys = benchFlags(FLAG_COUNT).map((flag) => flag.key);
  const keyFor = (index: number) => keys[(index * 7919) % keys.length]!;
  const evaluateRequests = contexts.map((context, index) => `/v1/evaluate ${JSON.stringify({ flagKey: keyFor(index), context })}`);
  const ofrepRequests = contexts.map((context, index) => `/ofrep/v1/evaluate/flags/${keyFor(index)} ${JSON.stringify({ context })}`);

  // The comparison servers, each on a port of its own: the Node ones as two processes, flagd's Go one as one.
  const [barePort, koaPort, flagdPort, beforePort, flagdGoPort] = [await freePorts(1), await freePorts(1), await freePorts(1), await freePorts(1), await freePorts(1)];
  const bareServer = join(root, 'bench/bare-evaluation-server.ts');
  const bare = [await spawnServer(bareServer, [String(FLAG_COUNT), String(barePort)]), await spawnServer(bareServer, [String(FLAG_COUNT), String(barePort)])];
  const koaAlone = [await spawnServer(bareServer, [String(FLAG_COUNT), String(koaPort), 'koa']), await spawnServer(bareServer, [String(FLAG_COUNT), String(koaPort), 'koa'])];
  const flagdFile = join(scratch, 'flagd-flags.json');
  writeFileSync(flagdFile, JSON.stringify(toFlagdConfiguration(benchFlags(FLAG_COUNT), benchSegments())));
  const flagd = [await spawnServer(join(root, 'bench/flagd-core-ofrep-server.ts'), [flagdFile, String(flagdPort)]), await spawnServer(join(root, 'bench/flagd-core-ofrep-server.ts'), [flagdFile, String(flagdPort)])];
  const flagdGoBuild = ensureFlagdEvaluator({ log: (message) => console.log(message) });
  const flagdGo = 'executablePath' in flagdGoBuild ? [await spawnExecutable(flagdGoBuild.executablePath, [flagdFile, String(flagdGoPort)])] : [];
  if ('unavailable' in flagdGoBuild) console.log(`flagd's Go evaluator left out: ${flagdGoBuild.unavailable}`);
  const before: ChildProcess[] = [];
  if (BEFORE) {
    const env = { ...process.env, DATABASE_URL: databaseUrl(), TEMPORAL_ADDRESS: bench.temporalAddress, PORT: String(beforePort), FLAGS_DATA_DIR: dataDir, FLAGS_ADMIN_TOKEN: adminToken, FLAGS_API_PROCESSES: '2', LOG_LEVEL: 'warn' };
    for (let index = 0; index < API_PROCESSES; index += 1) before.push(await spawnServer(join(BEFORE, 'src/api/main.ts'), [], env));
    console.log(`"before": ${API_PROCESSES} API process(es) of ${BEFORE} on port ${beforePort}`);
  }
  const pidsOf = (children: ChildProcess[]) => () => children.map((child) => child.pid!);
  const ours = () => bench.apiPids(service!);
  const bareBase = `http://127.0.0.1:${barePort}`;
  const beforeBase = `http://127.0.0.1:${beforePort}`;
  const targets: Target[] = [
    { name: 'ours /v1/evaluate', base: baseUrl, requests: evaluateRequests, pids: ours },
    { name: 'ours OFREP single', base: baseUrl, requests: ofrepRequests, pids: ours },
    ...(BEFORE ? [
      { name: 'before /v1/evaluate', base: beforeBase, requests: evaluateRequests, pids: pidsOf(before) },
      { name: 'before OFREP single', base: beforeBase, requests: ofrepRequests, pids: pidsOf(before) },
    ] : []),
    { name: 'bare node:http /v1/evaluate', base: bareBase, requests: evaluateRequests, pids: pidsOf(bare) },
    { name: 'bare node:http OFREP single', base: bareBase, requests: ofrepRequests, pids: pidsOf(bare) },
    { name: 'Koa alone /v1/evaluate', base: `http://127.0.0.1:${koaPort}`, requests: evaluateRequests, pids: pidsOf(koaAlone) },
    { name: 'Koa alone OFREP single', base: `http://127.0.0.1:${koaPort}`, requests: ofrepRequests, pids: pidsOf(koaAlone) },
    { name: 'flagd-core (JS) OFREP server, OFREP single', base: `http://127.0.0.1:${flagdPort}`, requests: ofrepRequests, pids: pidsOf(flagd) },
    ...(flagdGo.length ? [{ name: FLAGD_GO_NAME, base: `http://127.0.0.1:${flagdGoPort}`, requests: ofrepRequests, pids: pidsOf(flagdGo) }] : []),
  ].filter((target) => included(target.name));

  // Warm-up: JIT and connection pools, every server.
  for (const target of targets) autocannon(target, { name: 'warm-up', url: `${target.base}${target.requests[0]!.split(' ', 1)[0]}`, method: 'POST', headers, paths: target.requests.map((line) => line.slice(0, line.indexOf(' '))), bodies: target.requests.map((line) => line.slice(line.indexOf(' ') + 1)), connections: 32, durationSeconds: 2 });

  const flat = new Map<string, Measured[]>();
  const fixed = new Map<string, Measured[]>();
  console.log(`\n${API_PROCESSES} process(es) per server, ${FLAG_COUNT} flags, contexts rotating over 10,000 users, ${SECONDS} s per run, load generators in other processes on the same cores`);
  for (let round = 1; round <= ROUNDS; round += 1) {
    // Every other round runs the servers in the opposite order, so a trend in the neighbours' load evens out.
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    console.log(`round ${round}, flat out (wrk, ${FLAT_OUT_CONNECTIONS} connections); load average ${loadAverage()}`);
    for (const target of order) {
      const result = flatOut(target, token);
      flat.set(target.name, [...(flat.get(target.name) ?? []), result]);
      console.log(row(result));
    }
    console.log(`round ${round}, fixed ${FIXED_RATE.toLocaleString('en')} req/s (autocannon, ${RATE_CONNECTIONS} connections); load average ${loadAverage()}`);
    for (const target of order) {
      const result = fixedRate(target, token);
      fixed.set(target.name, [...(fixed.get(target.name) ?? []), result]);
      console.log(row(result));
    }
  }

  const mean = (results: Measured[] | undefined, pick: (result: Measured) => number) => (results?.length ? results.reduce((sum, result) => sum + pick(result), 0) / results.length : Number.NaN);
  const rps = (name: string) => mean(flat.get(name), (result) => result.rps);
  const p99 = (name: string) => mean(fixed.get(name), (result) => result.p99);
  const cpu = (name: string, runs: Map<string, Measured[]>) => mean(runs.get(name), (result) => result.cpuMicrosPerRequest);
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  const flagdName = 'flagd-core (JS) OFREP server, OFREP single';
  const flagdGoMeasured = flat.has(FLAGD_GO_NAME);
  console.log(`\nmeans of ${ROUNDS} round(s):`);
  console.log(`  ${'server, endpoint'.padEnd(44)} ${'flat out'.padStart(12)} ${'CPU/req'.padStart(9)}   ${'p99 at 5,000/s'.padStart(14)} ${'CPU/req'.padStart(9)}`);
  for (const target of targets) {
    console.log(`  ${target.name.padEnd(44)} ${`${rps(target.name).toFixed(0)} req/s`.padStart(12)} ${`${cpu(target.name, flat).toFixed(0)} µs`.padStart(9)}   ${`${p99(target.name).toFixed(2)} ms`.padStart(14)} ${`${cpu(target.name, fixed).toFixed(0)} µs`.padStart(9)}`);
  }
  console.log('the issue\'s targets:');
  for (const [ours, bareName] of [['ours /v1/evaluate', 'bare node:http /v1/evaluate'], ['ours OFREP single', 'bare node:http OFREP single']] as const) {
    if (!flat.has(ours)) continue;
    const ofBare = rps(ours) / rps(bareName);
    const ofFlagd = rps(ours) / rps(flagdGoMeasured ? FLAGD_GO_NAME : flagdName);
    const tail = p99(ours) - p99(bareName);
    console.log(`  ${ours}: flat out ${(ofBare * 100).toFixed(0)}% of bare (≥ 70%: ${verdict(ofBare >= 0.7)}), ${ofFlagd.toFixed(2)}× ${flagdGoMeasured ? 'flagd\'s (Go evaluator)' : 'flagd-core\'s (JS)'} OFREP (≥ 1.5×: ${verdict(ofFlagd >= 1.5)})${flagdGoMeasured ? `, ${(rps(ours) / rps(flagdName)).toFixed(2)}× flagd-core's (JS)` : ''}; p99 at 5,000/s ${tail >= 0 ? '+' : ''}${tail.toFixed(2)} ms against bare (≤ +1 ms: ${verdict(tail <= 1)})`);
    if (BEFORE) console.log(`    before: flat out ${((rps(ours.replace('ours', 'before')) / rps(bareName)) * 100).toFixed(0)}% of bare, p99 at 5,000/s ${p99(ours.replace('ours', 'before')).toFixed(2)} ms`);
    const koaName = ours.replace('ours', 'Koa alone');
    if (flat.has(koaName)) {
      // What the 70% target leaves for everything the service does beyond Koa: authentication, checks, metrics, headers.
      const budget = cpu(bareName, flat) / 0.7 - cpu(koaName, flat);
      console.log(`    Koa alone (no middleware, no checks): flat out ${((rps(koaName) / rps(bareName)) * 100).toFixed(0)}% of bare, ${cpu(koaName, flat).toFixed(0)} µs/req; ours is ${((rps(ours) / rps(koaName)) * 100).toFixed(0)}% of it. At 70% of bare, ${budget.toFixed(0)} µs/req would be left for the service's own work (ours uses ${(cpu(ours, flat) - cpu(koaName, flat)).toFixed(0)})`);
    }
  }
  for (const child of [...bare, ...koaAlone, ...flagd, ...flagdGo, ...before]) child.kill('SIGTERM');

  const bulkBodies = contexts.slice(0, 2_000).map((context, index) => JSON.stringify({ context, flagKeys: Array.from({ length: 50 }, (_, offset) => keys[(index * 50 + offset) % keys.length]) }));
  const snapshotResponse = await fetch(`${baseUrl}/v1/snapshot`, { headers: { authorization: `Bearer ${token}` } });
  const snapshotBytes = (await snapshotResponse.arrayBuffer()).byteLength;
  const etag = snapshotResponse.headers.get('etag')!;
  const oursOnly = [
    { name: 'bulk of 50 flags, flat out', url: `${baseUrl}/v1/evaluate/bulk`, method: 'POST', headers, bodies: bulkBodies, connections: 32, durationSeconds: SECONDS },
    // Every flag for a context: with 10,000 flags each answer is about 1.5 MB of JSON, so this
    // measures serialising that; 200 users polling, so the result cache answers after the first pass.
    { name: 'OFREP bulk, all 10,000 flags, 200 users', url: `${baseUrl}/ofrep/v1/evaluate/flags`, method: 'POST', headers, bodies: contexts.slice(0, 200).map((context) => JSON.stringify({ context })), connections: 16, durationSeconds: SECONDS },
    { name: 'snapshot, full download', url: `${baseUrl}/v1/snapshot`, method: 'GET', headers: { authorization: headers.authorization, 'accept-encoding': 'gzip' }, connections: 8, durationSeconds: SECONDS },
    { name: 'snapshot, If-None-Match (304)', url: `${baseUrl}/v1/snapshot`, method: 'GET', headers: { authorization: headers.authorization, 'if-none-match': etag }, connections: 64, durationSeconds: SECONDS },
  ].filter((scenario) => included(scenario.name));
  if (oursOnly.length) console.log(`\nours alone (autocannon); snapshot ${(snapshotBytes / 1024 / 1024).toFixed(2)} MiB uncompressed; load average ${loadAverage()}`);
  for (const scenario of oursOnly) {
    const result = autocannon({ pids: ours }, scenario);
    console.log(row({ name: scenario.name, rps: result.rps, p50: result.p50, p99: result.p99, max: result.max, cpuMicrosPerRequest: result.cpuMicrosPerRequest, failures: `statuses ${JSON.stringify(result.statusCodes)}, errors ${result.errors}` }));
  }
  // On a new connection (no agent): a pooled keep-alive one from before the load has long been closed by the server.
  const metrics = await new Promise<string>((resolve, reject) => {
    get(`${baseUrl}/metrics`, { agent: false, headers: { authorization: `Bearer ${adminToken}` } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve(text));
    }).on('error', reject);
  });
  const lookups = (outcome: string) => Number(new RegExp(`flags_cache_lookups_total\\{cache="bulk",outcome="${outcome}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  if (oursOnly.length) console.log(`bulk "all flags" result cache, one API process: ${lookups('hit')} hits, ${lookups('miss')} misses (${((100 * lookups('hit')) / Math.max(1, lookups('hit') + lookups('miss'))).toFixed(1)}% hits)`);
  const after = apiMemory(service);
  console.log(`resident memory after the load (MiB): ${after.map((mib) => mib.toFixed(0)).join(', ')}`);
} catch (error) {
  console.error(`the benchmark failed: ${String(error)}\nthe service's last output:\n${bench.output().split('\n').slice(-30).join('\n')}`);
  process.exitCode = 1;
} finally {
  for (const child of helpers) if (child.exitCode === null) child.kill('SIGTERM');
  if (service) {
    const pid = service.pid!;
    await stopService(service);
    if (PROFILE) {
      // The launcher serves the first API process: its profile is the one that says where an API request's time goes.
      const file = readdirSync(profileDir).find((name) => name.includes(`.${pid}.`));
      if (file) console.log(`\nCPU profile of the first API process (${join(profileDir, file)}):\n${formatProfileSummary(summariseCpuProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8'))))}`);
      else console.log(`no CPU profile of process ${pid} in ${profileDir}`);
    }
  }
  if (!PROFILE) rmSync(scratch, { recursive: true, force: true });
}
