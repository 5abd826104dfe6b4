// `npm run bench:insights`: what per-flag insights (issue 15) cost the HTTP evaluation path, and
// whether their counts are right under load. The service on its embedded default with BENCH_FLAGS
// flags (default 10,000) is started alternately with insights off (FLAGS_INSIGHTS_FLUSH_SECONDS=0)
// and on (the default), BENCH_ROUNDS times (default 2), in one run; each start takes single
// evaluations flat out over real HTTP for BENCH_SECONDS (default 10) from a second process
// (bench/http-load.ts). With insights on, it then waits for a flush and compares the counts in
// PostgreSQL with the evaluations answered 200.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createDatabasePool } from '../src/data/pool.ts';
import { sql } from '../src/data/sql.ts';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';
import { prepareBenchService, seedFlags } from './service.ts';

const FLAG_COUNT = Number(process.env.BENCH_FLAGS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const FLUSH_SECONDS = 5;
const root = new URL('../', import.meta.url).pathname;

const bench = await prepareBenchService({ FLAGS_API_PROCESSES: '1' });
let service: ChildProcess | undefined;

function load(scenario: Record<string, unknown>): { rps: number; p50: number; p99: number; statusCodes: Record<string, number> } {
  const file = join(bench.dataDir, 'scenario.json');
  writeFileSync(file, JSON.stringify(scenario));
  const result = spawnSync(process.execPath, [join(root, 'bench/http-load.ts'), file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`load generator failed: ${result.error ?? result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ReturnType<typeof load>;
}

async function countedEvaluations(): Promise<number> {
  const db = await createDatabasePool(bench.databaseUrl(), { maximumPoolSize: 1 });
  try {
    return await db.oneFirst(sql.type(z.object({ total: z.number() }))`SELECT coalesce(sum(count), 0)::float8 AS total FROM flag_evaluation_counts`);
  } finally {
    await db.end();
  }
}

try {
  const cold = await bench.startService();
  await seedFlags(bench.databaseUrl(), benchSegments(), benchFlags(FLAG_COUNT));
  const adminToken = bench.adminToken();
  const created = await fetch(`${bench.baseUrl}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-evaluator', owner: { id: 'bench', kind: 'service' }, scopes: ['feature_flag:evaluate'] }),
  });
  const token = ((await created.json()) as { token: string }).token;
  await bench.stopService(cold.child);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const keys = benchFlags(FLAG_COUNT).map((flag) => flag.key);
  const bodies = benchContexts(10_000).map((context, index) => JSON.stringify({ flagKey: keys[(index * 7919) % keys.length], context }));
  const scenario = (name: string, seconds: number) => ({ name, url: `${bench.baseUrl}/v1/evaluate`, method: 'POST', headers, bodies, connections: 64, durationSeconds: seconds });

  const rows: string[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const mode of ['off', 'on'] as const) {
      const started = await bench.startService({ FLAGS_INSIGHTS_FLUSH_SECONDS: mode === 'off' ? '0' : String(FLUSH_SECONDS) });
      service = started.child;
      const before = await countedEvaluations();
      const warm = load(scenario('warm-up', 3));
      const measured = load(scenario(`round ${round}, insights ${mode}`, SECONDS));
      let check = '';
      if (mode === 'on') {
        // Every request has been answered; the next flush carries the last counts.
        await new Promise((resolve) => setTimeout(resolve, (FLUSH_SECONDS + 2) * 1_000));
        const answered = (warm.statusCodes['200'] ?? 0) + (measured.statusCodes['200'] ?? 0);
        const counted = (await countedEvaluations()) - before;
        check = `   counted ${counted} of ${answered} answered (${counted === answered ? 'exact' : `off by ${counted - answered}`})`;
      }
      rows.push(`${`round ${round}, insights ${mode}`.padEnd(24)} ${measured.rps.toFixed(0).padStart(7)} req/s   p50 ${measured.p50.toFixed(2).padStart(6)} ms   p99 ${measured.p99.toFixed(2).padStart(6)} ms   statuses ${JSON.stringify(measured.statusCodes)}${check}`);
      await bench.stopService(service);
      service = undefined;
    }
  }
  console.log(`\n/v1/evaluate flat out (64 connections), ${FLAG_COUNT} flags, 1 API process, ${SECONDS} s per run, load from a second process`);
  for (const row of rows) console.log(row);
} catch (error) {
  console.error(`the benchmark failed: ${String(error)}\nthe service's last output:\n${bench.output().split('\n').slice(-30).join('\n')}`);
  process.exitCode = 1;
} finally {
  if (service) await bench.stopService(service);
}
