// `npm run bench:http`: the service on its embedded default with 10,000 flags, loaded over real HTTP
// by autocannon in a second process. Prints start-up time and memory with the flags loaded, then
// throughput and p50/p95/p99 for single evaluations (at a fixed 5,000/s and flat out), bulk
// evaluation of 50 flags, and the snapshot with and without If-None-Match.
// BENCH_API_PROCESSES (default 2), BENCH_FLAGS (10000) and BENCH_SECONDS (15) change the shape;
// BENCH_ONLY runs only the scenarios whose name contains it (`BENCH_ONLY=evaluate,`).
// Each row also gives the API processes' CPU time per request (from /proc): on a busy machine
// throughput and latency move with the neighbours' load, CPU per request much less.
// The fixed-rate run uses 16 keep-alive connections (BENCH_RATE_CONNECTIONS), a service's usual
// pool: autocannon paces each connection with its own timer, so many connections at a fixed total
// rate arrive in bursts, and the queueing behind a burst is what the tail then measures.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { prepareBenchService, seedFlags } from './service.ts';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';

const API_PROCESSES = Number(process.env.BENCH_API_PROCESSES ?? 2);
const FLAG_COUNT = Number(process.env.BENCH_FLAGS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const ONLY = process.env.BENCH_ONLY;
const root = new URL('../', import.meta.url).pathname;

const bench = await prepareBenchService({ FLAGS_API_PROCESSES: String(API_PROCESSES) });
const { dataDir, baseUrl, databaseUrl } = bench;
const { startService, stopService, apiMemory, apiCpuSeconds } = bench;
let service: ChildProcess | undefined;

async function seed(): Promise<void> {
  await seedFlags(databaseUrl(), benchSegments(), benchFlags(FLAG_COUNT));
}

function load(scenario: Record<string, unknown>): Record<string, number | string> | undefined {
  if (ONLY && scenario.name !== 'warm-up' && !String(scenario.name).includes(ONLY)) return undefined;
  // The scenario (10,000 request bodies) goes through a file: it is too large for argv.
  const scenarioFile = join(dataDir, 'scenario.json');
  writeFileSync(scenarioFile, JSON.stringify(scenario));
  const cpuBefore = apiCpuSeconds(service!);
  const result = spawnSync(process.execPath, [join(root, 'bench/http-load.ts'), scenarioFile], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`load generator failed: ${result.error ?? result.stderr}`);
  const measured = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Record<string, number | string>;
  return { ...measured, cpuMicrosPerRequest: ((apiCpuSeconds(service!) - cpuBefore) * 1e6) / Number(measured.requests) };
}

const row = (result: Record<string, number | string>) =>
  `${String(result.name).padEnd(38)} ${Number(result.rps).toFixed(0).padStart(7)} req/s   p50 ${Number(result.p50).toFixed(2).padStart(6)} ms   p95 ${Number(result.p95).toFixed(2).padStart(6)} ms   p99 ${Number(result.p99).toFixed(2).padStart(6)} ms   max ${Number(result.max).toFixed(1).padStart(6)} ms   API CPU ${Number(result.cpuMicrosPerRequest).toFixed(0).padStart(5)} µs/req   statuses ${JSON.stringify(result.statusCodes)}  errors ${result.errors}`;

try {
  const cold = await startService();
  console.log(`service up (empty, cold: initdb + Temporal dev server): ${cold.seconds.toFixed(1)} s`);
  await seed();
  await stopService(cold.child);
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
  const targetedKeys = benchFlags(FLAG_COUNT).map((flag) => flag.key);
  const singleBodies = contexts.map((context, index) => JSON.stringify({ flagKey: targetedKeys[(index * 7919) % targetedKeys.length], context }));
  const bulkBodies = contexts.slice(0, 2_000).map((context, index) => JSON.stringify({ context, flagKeys: Array.from({ length: 50 }, (_, offset) => targetedKeys[(index * 50 + offset) % targetedKeys.length]) }));

  const snapshotResponse = await fetch(`${baseUrl}/v1/snapshot`, { headers: { authorization: `Bearer ${token}` } });
  const snapshotBytes = (await snapshotResponse.arrayBuffer()).byteLength;
  const etag = snapshotResponse.headers.get('etag')!;
  console.log(`snapshot: ${(snapshotBytes / 1024 / 1024).toFixed(2)} MiB uncompressed`);

  // Warm-up: JIT and connection pools.
  load({ name: 'warm-up', url: `${baseUrl}/v1/evaluate`, method: 'POST', headers, bodies: singleBodies, connections: 32, durationSeconds: 3 });

  const results = [
    load({ name: 'evaluate, fixed 5,000 req/s', url: `${baseUrl}/v1/evaluate`, method: 'POST', headers, bodies: singleBodies, connections: Number(process.env.BENCH_RATE_CONNECTIONS ?? 16), durationSeconds: SECONDS, overallRate: 5_000 }),
    load({ name: 'evaluate, flat out (128 connections)', url: `${baseUrl}/v1/evaluate`, method: 'POST', headers, bodies: singleBodies, connections: 128, durationSeconds: SECONDS }),
    load({ name: 'bulk of 50 flags, flat out', url: `${baseUrl}/v1/evaluate/bulk`, method: 'POST', headers, bodies: bulkBodies, connections: 32, durationSeconds: SECONDS }),
    // Every flag for a context: with 10,000 flags each answer is about 1.5 MB of JSON, so this
    // measures serialising that; 200 users polling, so the result cache answers after the first pass.
    load({ name: 'OFREP bulk, all 10,000 flags, 200 users', url: `${baseUrl}/ofrep/v1/evaluate/flags`, method: 'POST', headers, bodies: contexts.slice(0, 200).map((context) => JSON.stringify({ context })), connections: 16, durationSeconds: SECONDS }),
    load({ name: 'snapshot, full download', url: `${baseUrl}/v1/snapshot`, method: 'GET', headers: { authorization: headers.authorization, 'accept-encoding': 'gzip' }, connections: 8, durationSeconds: Math.min(SECONDS, 10) }),
    load({ name: 'snapshot, If-None-Match (304)', url: `${baseUrl}/v1/snapshot`, method: 'GET', headers: { authorization: headers.authorization, 'if-none-match': etag }, connections: 64, durationSeconds: Math.min(SECONDS, 10) }),
  ];
  console.log(`\n${API_PROCESSES} API process(es), ${FLAG_COUNT} flags, contexts rotating over 10,000 users, ${SECONDS} s per run, load from a second process`);
  for (const result of results) if (result) console.log(row(result));
  // On a new connection (no agent): a pooled keep-alive one from before the load has long been closed by the server.
  const metrics = await new Promise<string>((resolve, reject) => {
    get(`${baseUrl}/metrics`, { agent: false, headers: { authorization: `Bearer ${adminToken}` } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve(text));
    }).on('error', reject);
  });
  const lookups = (outcome: string) => Number(new RegExp(`flags_cache_lookups_total\\{cache="bulk",outcome="${outcome}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  console.log(`bulk "all flags" result cache, one API process: ${lookups('hit')} hits, ${lookups('miss')} misses (${((100 * lookups('hit')) / Math.max(1, lookups('hit') + lookups('miss'))).toFixed(1)}% hits)`);
  const after = apiMemory(service);
  console.log(`resident memory after the load (MiB): ${after.map((mib) => mib.toFixed(0)).join(', ')}`);
} catch (error) {
  console.error(`the benchmark failed: ${String(error)}\nthe service's last output:\n${bench.output().split('\n').slice(-30).join('\n')}`);
  process.exitCode = 1;
} finally {
  if (service) await stopService(service);
  rmSync(dataDir, { recursive: true, force: true });
}
