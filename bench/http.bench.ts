// `npm run bench:http`: the service on its embedded default with 10,000 flags, loaded over real HTTP
// by autocannon in a second process. Prints start-up time and memory with the flags loaded, then
// throughput and p50/p95/p99 for single evaluations (at a fixed 5,000/s and flat out), bulk
// evaluation of 50 flags, and the snapshot with and without If-None-Match.
// BENCH_API_PROCESSES (default 2), BENCH_FLAGS (10000) and BENCH_SECONDS (15) change the shape.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabasePool } from '../src/data/pool.ts';
import { sql } from '../src/data/sql.ts';
import { inWriteTransaction } from '../src/data/write-transaction.ts';
import { freePorts } from '../test/support/ports.ts';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';

const API_PROCESSES = Number(process.env.BENCH_API_PROCESSES ?? 2);
const FLAG_COUNT = Number(process.env.BENCH_FLAGS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const root = new URL('../', import.meta.url).pathname;

const dataDir = mkdtempSync(join(tmpdir(), 'bench-http-'));
chmodSync(dataDir, 0o755);
const env = {
  ...process.env,
  FLAGS_DATA_DIR: dataDir,
  PORT: String(await freePorts(1)),
  FLAGS_PG_PORT: String(await freePorts(1)),
  FLAGS_TEMPORAL_PORT: String(await freePorts(3)),
  FLAGS_TEMPORAL_UI_PORT: String(await freePorts(1)),
  FLAGS_API_PROCESSES: String(API_PROCESSES),
  LOG_LEVEL: 'warn',
};
const baseUrl = `http://127.0.0.1:${env.PORT}`;
const databaseUrl = `postgres://flags:flags@127.0.0.1:${env.FLAGS_PG_PORT}/flags`;

function startService(): Promise<{ child: ChildProcess; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(root, 'src/launcher/main.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Feature-flag service ready')) resolve({ child, seconds: (performance.now() - started) / 1000 });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the service exited with ${code}:\n${output}`)));
  });
}

async function stopService(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Resident memory of the launcher (API + worker) and of each extra API process, in MiB. */
function apiMemory(child: ChildProcess): number[] {
  const pids = [child.pid!, ...spawnSync('pgrep', ['-f', `${root}src/api/main.ts`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number)];
  return pids.map((pid) => {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  });
}

async function seed(): Promise<void> {
  const db = await createDatabasePool(databaseUrl);
  const segments = benchSegments();
  const flags = benchFlags(FLAG_COUNT, segments.length);
  // Seeded underneath the API in one transaction (the API writes one flag per request; 10,000 of
  // those would make the benchmark about seeding). Each row still gets its outbox event.
  await inWriteTransaction(db, async (tx) => {
    for (const segment of segments) {
      await tx.query(sql.typeAlias('void')`INSERT INTO segments (key, version, definition, created_by, updated_by) VALUES (${segment.key}, 1, ${sql.jsonb(segment as never)}, 'bench', 'bench')`);
    }
    for (let start = 0; start < flags.length; start += 1_000) {
      const batch = flags.slice(start, start + 1_000);
      await tx.query(sql.typeAlias('void')`
        INSERT INTO flags (key, version, state, definition, description, tags, search_text, created_by, updated_by)
        SELECT key, 1, 'active', definition, '', tags, key, 'bench', 'bench'
        FROM jsonb_to_recordset(${sql.jsonb(batch.map((flag) => ({ key: flag.key, definition: flag, tags: flag.tags })) as never)}) AS t(key text, definition jsonb, tags text[])`);
      await tx.query(sql.typeAlias('void')`
        INSERT INTO outbox (type, entity_key, payload)
        SELECT 'flag.created', key, '{}'::jsonb FROM jsonb_to_recordset(${sql.jsonb(batch.map((flag) => ({ key: flag.key })) as never)}) AS t(key text)`);
    }
  });
  await db.end();
}

function load(scenario: Record<string, unknown>): Record<string, number | string> {
  // The scenario (10,000 request bodies) goes through a file: it is too large for argv.
  const scenarioFile = join(dataDir, 'scenario.json');
  writeFileSync(scenarioFile, JSON.stringify(scenario));
  const result = spawnSync(process.execPath, [join(root, 'bench/http-load.ts'), scenarioFile], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`load generator failed: ${result.error ?? result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!);
}

const row = (result: Record<string, number | string>) =>
  `${String(result.name).padEnd(38)} ${Number(result.rps).toFixed(0).padStart(7)} req/s   p50 ${Number(result.p50).toFixed(2).padStart(6)} ms   p95 ${Number(result.p95).toFixed(2).padStart(6)} ms   p99 ${Number(result.p99).toFixed(2).padStart(6)} ms   max ${Number(result.max).toFixed(1).padStart(6)} ms   non-2xx ${result.non2xx}  errors ${result.errors}`;

let service: ChildProcess | undefined;
try {
  const cold = await startService();
  console.log(`service up (empty, cold: initdb + Temporal dev server): ${cold.seconds.toFixed(1)} s`);
  await seed();
  await stopService(cold.child);
  const warm = await startService();
  service = warm.child;
  const memory = apiMemory(service);
  console.log(`service up with ${FLAG_COUNT} flags, ${API_PROCESSES} API process(es): ${warm.seconds.toFixed(1)} s; resident memory (MiB): launcher with API + worker ${memory[0]!.toFixed(0)}${memory.slice(1).map((mib) => `, API ${mib.toFixed(0)}`).join('')}`);

  const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const tokenResponse = await fetch(`${baseUrl}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-evaluator', scopes: ['feature_flag:evaluate'] }),
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
    load({ name: 'evaluate, fixed 5,000 req/s', url: `${baseUrl}/v1/evaluate`, method: 'POST', headers, bodies: singleBodies, connections: 64, durationSeconds: SECONDS, overallRate: 5_000 }),
    load({ name: 'evaluate, flat out (128 connections)', url: `${baseUrl}/v1/evaluate`, method: 'POST', headers, bodies: singleBodies, connections: 128, durationSeconds: SECONDS }),
    load({ name: 'bulk of 50 flags, flat out', url: `${baseUrl}/v1/evaluate/bulk`, method: 'POST', headers, bodies: bulkBodies, connections: 32, durationSeconds: SECONDS }),
    load({ name: 'snapshot, full download', url: `${baseUrl}/v1/snapshot`, method: 'GET', headers: { authorization: headers.authorization, 'accept-encoding': 'gzip' }, connections: 8, durationSeconds: Math.min(SECONDS, 10) }),
    load({ name: 'snapshot, If-None-Match (304)', url: `${baseUrl}/v1/snapshot`, method: 'GET', headers: { authorization: headers.authorization, 'if-none-match': etag }, connections: 64, durationSeconds: Math.min(SECONDS, 10) }),
  ];
  console.log(`\n${API_PROCESSES} API process(es), ${FLAG_COUNT} flags, contexts rotating over 10,000 users, ${SECONDS} s per run, load from a second process`);
  for (const result of results) console.log(row(result));
  const after = apiMemory(service);
  console.log(`resident memory after the load (MiB): ${after.map((mib) => mib.toFixed(0)).join(', ')}`);
} finally {
  if (service) await stopService(service);
  rmSync(dataDir, { recursive: true, force: true });
}
