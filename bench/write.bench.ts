// `npm run bench:write`: flag writes through the HTTP API on the embedded default, with and without
// evaluations running beside them. In phases of BENCH_SECONDS (10) each:
// - evaluations alone, POST /v1/evaluate at a fixed 3,000/s (autocannon, another process): the
//   evaluation p99 that writes must not more than double;
// - BENCH_WRITERS (32) writers, each PATCHing its own flag in a loop (If-Match on its version);
// - the same writers racing on one flag (one wins per version, the others get version_conflict);
// - both again while the 3,000 evaluations a second run.
// Prints committed writes a second and p50/p99 of every attempt, and the evaluation p99 beside it,
// with the load average (the machine may be shared: compare within one run). Afterwards it checks what
// parallel writes must keep exact: the audit chain verifies, and every flag's versions are
// contiguous, in id order, in the audit log and in the outbox. And it measures what bounds the
// serialised part on this machine: one round trip, one commit with its WAL flush, and how many WAL
// flushes each committed write needed (docs/write-path.md). With the writes on their own flags it
// prints the CPU each committed write cost the service's parts (API processes, PostgreSQL, worker,
// Temporal), read from /proc: on a shared machine throughput follows the neighbours' load, the
// CPU a write costs much less, so that is the figure to compare versions by. BENCH_API_PROCESSES (2) API processes,
// as `npm start` runs them; BENCH_FLAGS (1,000) flags in the set that the evaluations read and that
// every write's new flag set is derived from.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createDatabasePool } from '../src/data/pool.ts';
import { sql } from '../src/data/sql.ts';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';
import { cpuSince, treeCpuMs } from './process-cpu.ts';
import { prepareBenchService, seedFlags } from './service.ts';

const WRITERS = Number(process.env.BENCH_WRITERS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const API_PROCESSES = Number(process.env.BENCH_API_PROCESSES ?? 2);
const EVALUATION_RATE = 3_000;
const EVALUATION_FLAGS = Number(process.env.BENCH_FLAGS ?? 1_000);
const root = new URL('../', import.meta.url).pathname;

const bench = await prepareBenchService({ FLAGS_API_PROCESSES: String(API_PROCESSES) });
let service: Awaited<ReturnType<typeof bench.startService>>['child'] | undefined;
const loadAverage = () => loadavg().map((value) => value.toFixed(2)).join(' ');

interface WritePhase {
  committed: number;
  latencies: number[];
  outcomes: Record<string, number>;
}

interface EvaluationRun {
  rps: number;
  p50: number;
  p99: number;
  statusCodes: Record<string, number>;
  errors: number;
}

const at = (sorted: number[], quantile: number) => sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] ?? Number.NaN;

try {
  const cold = await bench.startService();
  service = cold.child;
  await seedFlags(bench.databaseUrl(), benchSegments(), benchFlags(EVALUATION_FLAGS));
  await bench.stopService(cold.child);
  const warm = await bench.startService();
  service = warm.child;
  const adminHeaders = { authorization: `Bearer ${bench.adminToken()}`, 'content-type': 'application/json' };

  async function call(method: string, path: string, body: unknown, extra: Record<string, string> = {}) {
    const response = await fetch(`${bench.baseUrl}${path}`, { method, headers: { ...adminHeaders, ...extra }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as { version: number; token: string; error?: { code: string; details?: { currentVersion?: number } } } };
  }

  const writtenKeys = Array.from({ length: WRITERS }, (_, writer) => `written-${writer}`);
  for (const key of [...writtenKeys, 'contended']) await call('POST', '/v1/flags', { key, type: 'number', defaultValue: 0 });
  const evaluator = await call('POST', '/v1/tokens', { name: 'bench-evaluator', owner: { id: 'bench', kind: 'service' }, scopes: ['feature_flag:evaluate'] });
  const keys = benchFlags(EVALUATION_FLAGS).map((flag) => flag.key);
  const scenarioFile = join(bench.dataDir, 'evaluations.json');
  writeFileSync(scenarioFile, JSON.stringify({
    name: 'evaluations',
    url: `${bench.baseUrl}/v1/evaluate`,
    method: 'POST',
    headers: { authorization: `Bearer ${evaluator.body.token}`, 'content-type': 'application/json' },
    bodies: benchContexts(10_000).map((context, index) => JSON.stringify({ flagKey: keys[(index * 7919) % keys.length], context })),
    connections: 16,
    durationSeconds: SECONDS,
    overallRate: EVALUATION_RATE,
  }));

  /** Evaluations at the fixed rate for one phase, in another process; resolves with its figures when it ends. */
  function evaluations(): Promise<EvaluationRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'bench/http-load.ts'), scenarioFile], { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('exit', (code) => {
        const line = output.trim().split('\n').at(-1) ?? '';
        if (code !== 0 || !line.startsWith('{')) reject(new Error(`the evaluation load failed (${code}): ${output}`));
        else resolve(JSON.parse(line) as EvaluationRun);
      });
    });
  }

  const versions = new Map<string, number>([...writtenKeys, 'contended'].map((key) => [key, 1]));
  let committedInRun = 0;

  /** Every writer PATCHes its own flag (or all of them the one flag) until the phase ends. */
  async function writes(onOneFlag: boolean): Promise<WritePhase> {
    const phase: WritePhase = { committed: 0, latencies: [], outcomes: {} };
    const deadline = Date.now() + SECONDS * 1_000;
    await Promise.all(writtenKeys.map(async (ownKey, writer) => {
      const key = onOneFlag ? 'contended' : ownKey;
      for (let value = 1; Date.now() < deadline; value += 1) {
        const started = performance.now();
        const result = await call('PATCH', `/v1/flags/${key}`, { defaultValue: writer * 1_000_000 + value }, { 'if-match': `"${versions.get(key)}"` });
        phase.latencies.push(performance.now() - started);
        const outcome = result.status === 200 ? 'committed' : (result.body.error?.code ?? String(result.status));
        phase.outcomes[outcome] = (phase.outcomes[outcome] ?? 0) + 1;
        if (result.status === 200) {
          phase.committed += 1;
          committedInRun += 1;
          versions.set(key, Math.max(versions.get(key)!, result.body.version));
        } else if (result.body.error?.details?.currentVersion !== undefined) {
          versions.set(key, Math.max(versions.get(key)!, result.body.error.details.currentVersion));
        }
      }
    }));
    phase.latencies.sort((a, b) => a - b);
    return phase;
  }

  const writeRow = (name: string, phase: WritePhase) =>
    `  ${name.padEnd(46)} ${(phase.committed / SECONDS).toFixed(0).padStart(5)} writes/s committed   p50 ${at(phase.latencies, 0.5).toFixed(1).padStart(6)} ms   p99 ${at(phase.latencies, 0.99).toFixed(1).padStart(6)} ms   ${JSON.stringify(phase.outcomes)}`;
  const evaluationRow = (name: string, run: EvaluationRun) =>
    `  ${name.padEnd(46)} ${run.rps.toFixed(0).padStart(5)} evaluations/s   p50 ${run.p50.toFixed(2).padStart(6)} ms   p99 ${run.p99.toFixed(2).padStart(6)} ms   statuses ${JSON.stringify(run.statusCodes)}, errors ${run.errors}`;

  console.log(`\nPATCH over HTTP, ${WRITERS} concurrent writers, ${API_PROCESSES} API process(es), embedded PostgreSQL, ${SECONDS} s per phase; evaluations at ${EVALUATION_RATE}/s over ${EVALUATION_FLAGS} flags`);
  console.log(`evaluations alone; load average ${loadAverage()}`);
  const alone = await evaluations();
  console.log(evaluationRow('evaluations, no writes', alone));

  /** The service's CPU (every process it started) while `work` runs, by part. */
  async function measuringCpu<T>(work: () => Promise<T>): Promise<[T, Map<string, number>]> {
    const before = treeCpuMs(service!.pid!);
    const result = await work();
    return [result, cpuSince(before, treeCpuMs(service!.pid!))];
  }
  const cpuRow = (cpu: Map<string, number>, committed: number, note = '') => {
    const parts = ['API', 'PostgreSQL', 'worker', 'Temporal'].map((part) => `${part} ${((cpu.get(part) ?? 0) / committed).toFixed(2)}`);
    const total = [...cpu.values()].reduce((sum, ms) => sum + ms, 0);
    return `    CPU per committed write${note}: ${parts.join(', ')} ms (all ${(total / committed).toFixed(2)} ms; the service kept ${(total / 1000 / SECONDS).toFixed(2)} cores busy)`;
  };

  console.log(`writes alone; load average ${loadAverage()}`);
  const [distinct, distinctCpu] = await measuringCpu(() => writes(false));
  console.log(writeRow(`${WRITERS} writers, each on its own flag`, distinct));
  console.log(cpuRow(distinctCpu, distinct.committed));
  const contended = await writes(true);
  console.log(writeRow(`${WRITERS} writers on one flag (If-Match races)`, contended));

  console.log(`writes with evaluations; load average ${loadAverage()}`);
  const [[distinctLoaded, distinctEvaluations], loadedCpu] = await measuringCpu(() => Promise.all([writes(false), evaluations()]));
  console.log(writeRow(`${WRITERS} writers, each on its own flag`, distinctLoaded));
  console.log(evaluationRow('  the evaluations meanwhile', distinctEvaluations));
  console.log(cpuRow(loadedCpu, distinctLoaded.committed, ' (the evaluations\' included)'));
  const [contendedLoaded, contendedEvaluations] = await Promise.all([writes(true), evaluations()]);
  console.log(writeRow(`${WRITERS} writers on one flag (If-Match races)`, contendedLoaded));
  console.log(evaluationRow('  the evaluations meanwhile', contendedEvaluations));

  // What bounds serialised commits on this machine: PostgreSQL serialises the commits of transactions
  // that NOTIFY, and the append lock is held to commit: the sequencer's runs commit one after the
  // other (each for a batch of writes), the writes themselves in parallel.
  const probe = await createDatabasePool(bench.databaseUrl(), { maximumPoolSize: 1 });
  let roundTripMs: number;
  let commitMs: number;
  let walFlushesPerWrite: number;
  try {
    const timed = async (times: number, work: () => Promise<unknown>) => {
      const started = performance.now();
      for (let index = 0; index < times; index += 1) await work();
      return (performance.now() - started) / times;
    };
    roundTripMs = await timed(200, () => probe.query(sql.typeAlias('void')`SELECT 1`));
    // An xid makes the commit write a commit record and wait for its flush, as a write's does.
    commitMs = await timed(50, () => probe.transaction((tx) => tx.query(sql.typeAlias('void')`SELECT pg_current_xact_id()`)));
    // PostgreSQL 18 counts WAL flushes in pg_stat_io; 14 to 17 in pg_stat_wal.
    const version = Number(await probe.oneFirst(sql.type(z.object({ version: z.string() }))`SELECT current_setting('server_version_num') AS version`));
    const walSyncs = async () => Number(await probe.oneFirst(sql.type(z.object({ flushes: z.string() }))`${version >= 180_000
      ? sql.fragment`SELECT coalesce(sum(fsyncs), 0)::text AS flushes FROM pg_stat_io WHERE object = 'wal'`
      : sql.fragment`SELECT wal_sync::text AS flushes FROM pg_stat_wal`}`));
    const before = await walSyncs();
    const phase = await writes(false);
    walFlushesPerWrite = (await walSyncs() - before) / Math.max(1, phase.committed);
    console.log(writeRow(`${WRITERS} writers, own flags (WAL flushes counted)`, phase));
  } finally {
    await probe.end();
  }
  console.log(`one round trip ${roundTripMs.toFixed(2)} ms; one committed transaction (BEGIN, an xid, COMMIT with its WAL flush) ${commitMs.toFixed(2)} ms alone, so at most ${(1000 / commitMs).toFixed(0)} serialised commits a second; WAL flushes per committed write under load: ${walFlushesPerWrite.toFixed(2)} (1.00: no two commits share a flush)`);

  // What parallel writes must keep exact, checked on everything the run wrote.
  const verify = (await (await fetch(`${bench.baseUrl}/v1/audit/verify`, { headers: adminHeaders })).json()) as { ok: boolean; entries: number; problems: unknown[] };
  const db = await createDatabasePool(bench.databaseUrl());
  let gaps: string[];
  try {
    const audited = await db.any(sql.type(z.object({ entity_key: z.string(), versions: z.array(z.number()) }))`
      SELECT entity_key, array_agg(version ORDER BY id) AS versions FROM audit_log WHERE entity_type = 'flag' GROUP BY entity_key`);
    const published = await db.any(sql.type(z.object({ entity_key: z.string(), versions: z.array(z.number()) }))`
      SELECT entity_key, array_agg((payload->>'version')::int ORDER BY id) AS versions FROM outbox
      WHERE type LIKE 'flag.%' AND type <> 'flag.exposure' AND payload ? 'version' GROUP BY entity_key`);
    const contiguous = (list: readonly number[]) => list.every((version, index) => version === list[0]! + index);
    // Every write answered after its appends were sequenced: nothing may still wait.
    const waiting = await db.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT ((SELECT count(*) FROM audit_pending) + (SELECT count(*) FROM outbox_pending))::int AS n`);
    gaps = [
      ...audited.filter((row) => !contiguous(row.versions) || row.versions[0] !== 1).map((row) => `audit ${row.entity_key}`),
      ...published.filter((row) => !contiguous(row.versions)).map((row) => `outbox ${row.entity_key}`),
      ...(waiting > 0 ? [`${waiting} appends still waiting to be sequenced`] : []),
    ];
  } finally {
    await db.end();
  }
  console.log(`after ${committedInRun} committed writes: audit chain ${verify.ok ? 'verifies' : `BROKEN ${JSON.stringify(verify.problems.slice(0, 3))}`} (${verify.entries} entries); every flag's versions contiguous in the audit log and the outbox: ${gaps.length === 0 ? 'yes' : `NO: ${gaps.slice(0, 5).join(', ')}`}`);

  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  const loadedRate = distinctLoaded.committed / SECONDS;
  const loadedP99 = at(distinctLoaded.latencies, 0.99);
  const evaluationRatio = distinctEvaluations.p99 / alone.p99;
  console.log('the issue\'s targets (32 writers on their own flags while 3,000 evaluations/s run):');
  console.log(`  ${loadedRate.toFixed(0)} writes/s (≥ 300: ${verdict(loadedRate >= 300)}); write p99 ${loadedP99.toFixed(1)} ms (< 250 ms: ${verdict(loadedP99 < 250)}); evaluation p99 ${distinctEvaluations.p99.toFixed(2)} ms, ${evaluationRatio.toFixed(2)}× its ${alone.p99.toFixed(2)} ms without writes (≤ 2×: ${verdict(evaluationRatio <= 2)})`);
  if (!verify.ok || gaps.length) process.exitCode = 1;
} catch (error) {
  console.error(`the benchmark failed: ${String(error)}\nthe service's last output:\n${bench.output().split('\n').slice(-30).join('\n')}`);
  process.exitCode = 1;
} finally {
  if (service) await bench.stopService(service);
}
