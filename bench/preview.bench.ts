// `npm run bench:preview`: what impact previews (issue 20) cost. Three figures, one run:
//  1. Sampling on the evaluation hot path: evaluate() over 10,000 compiled flags with and without
//     ContextSampler.offer, alternately, in one process (ns/op), after the reservoirs have filled.
//  2. The time of one preview (a flag patch) with 10,000 flags over 10,000 and over 100,000 sampled
//     contexts, through ImpactPreviewer (rows loaded from PostgreSQL, compiled and compared in its worker thread).
//  3. Evaluation latency on the API (/v1/evaluate over real HTTP from a second process, at a fixed
//     rate) without and with dry runs over 100,000 sampled contexts running back to back.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContextSampler } from '../src/api/context-sampler.ts';
import { ImpactPreviewer } from '../src/api/impact-preview.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabasePool } from '../src/data/pool.ts';
import { sql } from '../src/data/sql.ts';
import { attributeKeeper, attributesRead, compileFlagSet, evaluate, type Flag } from '@flagship/engine';
import { createLogger } from '../src/log.ts';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';
import { prepareBenchService, seedFlags } from './service.ts';

const FLAG_COUNT = 10_000;
const root = new URL('../', import.meta.url).pathname;
const log = createLogger('warn', 'bench-preview');
const flags: Flag[] = benchFlags(FLAG_COUNT).map((definition) => ({ ...definition, state: 'active', version: 1 }));
const segments = benchSegments();
const set = compileFlagSet({ flags, segments });
const contexts = benchContexts(100_000);
const keys = flags.map((flag) => flag.key);

const bench = await prepareBenchService({ FLAGS_API_PROCESSES: '1' });
const { child } = await bench.startService();
try {
  await seedFlags(bench.databaseUrl(), segments, benchFlags(FLAG_COUNT));
  await bench.stopService(child);
  const service = await bench.startService();
  const db = await createDatabasePool(bench.databaseUrl(), { maximumPoolSize: 4 });

  // 1. The hot path, with and without sampling. The sampler's flush never runs here (a long period).
  const sampler = new ContextSampler({ db, log, live: () => set, config: { ...loadConfig({}).contextSample, flushSeconds: 3_600 } });
  const OPS = 500_000;
  const ROUNDS = 8;
  const run = (sampling: boolean): number => {
    const started = process.hrtime.bigint();
    let sink = 0;
    for (let i = 0; i < OPS; i++) {
      const key = keys[(i * 7919) % keys.length]!;
      const context = contexts[i % 10_000]!;
      const result = evaluate(set, key, context)!;
      if (sampling) sampler.offer(key, context, 'bench');
      sink += result.flagVersion;
    }
    if (sink === 0) throw new Error('unreachable');
    return Number(process.hrtime.bigint() - started) / OPS;
  };
  /** The offer alone, over the same keys and contexts: what sampling adds, apart from the evaluation's own noise. */
  const offerOnly = (): number => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < OPS; i++) sampler.offer(keys[(i * 7919) % keys.length]!, contexts[i % 10_000]!, 'bench');
    return Number(process.hrtime.bigint() - started) / OPS;
  };
  // Fill the reservoirs first (offers only, 40 per flag and 20 million overall): the common path is a reservoir that has seen many times its size.
  for (let i = 0; i < 20_000_000; i++) sampler.offer(keys[(i * 7919) % keys.length]!, contexts[i % 10_000]!, 'bench');
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const without: number[] = [];
  const withSampling: number[] = [];
  const offers: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    without.push(run(false));
    withSampling.push(run(true));
    offers.push(offerOnly());
  }
  const heapBefore = process.memoryUsage().heapUsed;
  offerOnly();
  const heapGrowth = (process.memoryUsage().heapUsed - heapBefore) / OPS;
  const hot = [
    `evaluate alone:    median ${median(without).toFixed(1)} ns/op (rounds ${without.map((value) => value.toFixed(0)).join(', ')})`,
    `evaluate + sample: median ${median(withSampling).toFixed(1)} ns/op (rounds ${withSampling.map((value) => value.toFixed(0)).join(', ')})`,
    `the offer alone:   median ${median(offers).toFixed(1)} ns/op (rounds ${offers.map((value) => value.toFixed(1)).join(', ')}); heap growth over ${OPS} offers: ${heapGrowth.toFixed(2)} bytes/op`,
  ];

  // 2. Previews over 10,000 (the flag's own sample) and 100,000 (the overall sample) contexts.
  const keep = attributeKeeper(attributesRead(set));
  const rows = contexts.map((context) => JSON.stringify(keep(context)));
  const insert = async (scope: string, count: number) => {
    for (let start = 0; start < count; start += 10_000) {
      const slice = rows.slice(start, Math.min(count, start + 10_000));
      await db.query(sql.typeAlias('void')`
        INSERT INTO context_samples (process, scope, slot, context, token, sampled_at)
        SELECT 'bench', ${scope}, start + ordinality::int, context::jsonb, 'bench', now()
        FROM unnest(${sql.array(slice, 'text')}) WITH ORDINALITY AS sampled (context, ordinality), (SELECT ${start}::int AS start) AS offsets
        ON CONFLICT DO NOTHING`);
    }
  };
  const ownSampled = keys[1]!;
  const overallOnly = keys[2]!;
  await insert(ownSampled, 10_000);
  await insert('', 100_000);
  const previewer = new ImpactPreviewer({ db, live: () => set });
  const timePreview = async (key: string): Promise<{ ms: number; sampled: number }> => {
    const flag = flags.find((candidate) => candidate.key === key)!;
    const started = performance.now();
    const report = await previewer.preview({ kind: 'flag', key, flag: { ...flag, enabled: !flag.enabled } });
    return { ms: performance.now() - started, sampled: report.flags[0]!.sampled };
  };
  await timePreview(ownSampled);
  const previews: string[] = [];
  for (let round = 1; round <= 3; round++) {
    const small = await timePreview(ownSampled);
    const large = await timePreview(overallOnly);
    previews.push(`round ${round}: ${small.sampled} contexts ${small.ms.toFixed(0)} ms, ${large.sampled} contexts ${large.ms.toFixed(0)} ms`);
  }
  await previewer.close();

  // 3. Evaluation latency on the API at a fixed rate, alone and beside back-to-back dry runs over 100,000 contexts.
  const adminToken = bench.adminToken();
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const bodies = contexts.slice(0, 10_000).map((context, index) => JSON.stringify({ flagKey: keys[(index * 7919) % keys.length], context }));
  // Spawned, not spawnSync: this event loop drives the dry runs while the load runs.
  const load = (name: string) => new Promise<{ rps: number; p50: number; p99: number; statusCodes: Record<string, number> }>((resolve, reject) => {
    const file = join(bench.dataDir, `scenario-${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ name, url: `${bench.baseUrl}/v1/evaluate`, method: 'POST', headers, bodies, connections: 16, durationSeconds: 10, overallRate: 2_000 }));
    const generator = spawn(process.execPath, [join(root, 'bench/http-load.ts'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    generator.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    generator.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    generator.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`load generator failed: ${err}`))));
  });
  const version = async (key: string) => ((await (await fetch(`${bench.baseUrl}/v1/flags/${key}`, { headers })).json()) as { version: number }).version;
  const overallVersion = await version(overallOnly);
  const latency: string[] = [];
  for (let round = 1; round <= 2; round++) {
    const alone = await load('alone');
    let stop = false;
    let dryRuns = 0;
    const previewing = (async () => {
      while (!stop) {
        const answer = await fetch(`${bench.baseUrl}/v1/flags/${overallOnly}?dryRun=true`, { method: 'PATCH', headers, body: JSON.stringify({ version: overallVersion, enabled: false }) });
        if (answer.status !== 200) throw new Error(`dry run answered ${answer.status}: ${await answer.text()}`);
        dryRuns++;
      }
    })();
    const beside = await load('beside dry runs');
    stop = true;
    await previewing;
    latency.push(`round ${round}: alone p50 ${alone.p50.toFixed(2)} ms p99 ${alone.p99.toFixed(2)} ms (${alone.rps.toFixed(0)} req/s); beside ${dryRuns} dry runs p50 ${beside.p50.toFixed(2)} ms p99 ${beside.p99.toFixed(2)} ms (${beside.rps.toFixed(0)} req/s)`);
  }

  console.log(`\n1. Sampling on the hot path: evaluate() of ${FLAG_COUNT} compiled flags, ${OPS} ops per run, ${ROUNDS} rounds alternating, after 20 million offers (size ${loadConfig({}).contextSample.size}, ${loadConfig({}).contextSample.perFlag} per flag)`);
  for (const line of hot) console.log(`   ${line}`);
  console.log(`\n2. One preview (a flag patch) with ${FLAG_COUNT} flags in the live set, rows from PostgreSQL, compared in the worker thread`);
  for (const line of previews) console.log(`   ${line}`);
  console.log('\n3. /v1/evaluate at 2,000 req/s over 16 connections for 10 s, from a second process, alone and beside dry runs over 100,000 sampled contexts');
  for (const line of latency) console.log(`   ${line}`);
  await db.end();
  await bench.stopService(service.child);
} catch (error) {
  console.error(bench.output());
  throw error;
}
