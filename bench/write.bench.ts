// `npm run bench:write`: write latency through the HTTP API on the embedded default.
// 20 concurrent writers each PATCH their own flag in a loop (every write takes the one write lock:
// row + audit entry + outbox event + NOTIFY in one transaction), then 20 writers race on one flag
// (one wins per version, the rest get version_conflict). Prints p50/p95/p99 per phase.
import { rmSync } from 'node:fs';
import { prepareBenchService } from './service.ts';

const WRITERS = Number(process.env.BENCH_WRITERS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

const bench = await prepareBenchService();
const { child } = await bench.startService();
const headers = { authorization: `Bearer ${bench.adminToken()}`, 'content-type': 'application/json' };

async function call(method: string, path: string, body: unknown, extra: Record<string, string> = {}) {
  const response = await fetch(`${bench.baseUrl}${path}`, { method, headers: { ...headers, ...extra }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as { version: number; error?: { code: string } } };
}

function summary(name: string, latencies: number[], outcomes: Record<string, number>, seconds: number): string {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
  return `${name.padEnd(44)} ${String(latencies.length).padStart(6)} writes  ${(latencies.length / seconds).toFixed(0).padStart(5)}/s   p50 ${at(0.5)} ms   p95 ${at(0.95)} ms   p99 ${at(0.99)} ms   ${JSON.stringify(outcomes)}`;
}

try {
  for (let writer = 0; writer < WRITERS; writer += 1) await call('POST', '/v1/flags', { key: `written-${writer}`, type: 'number', defaultValue: 0 });
  await call('POST', '/v1/flags', { key: 'contended', type: 'number', defaultValue: 0 });

  const ownLatencies: number[] = [];
  const ownOutcomes: Record<string, number> = {};
  const deadline = Date.now() + SECONDS * 1_000;
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      let version = 1;
      for (let value = 1; Date.now() < deadline; value += 1) {
        const started = performance.now();
        const result = await call('PATCH', `/v1/flags/written-${writer}`, { defaultValue: value }, { 'if-match': `"${version}"` });
        ownLatencies.push(performance.now() - started);
        ownOutcomes[result.status] = (ownOutcomes[result.status] ?? 0) + 1;
        version = result.body.version;
      }
    }),
  );

  const raceLatencies: number[] = [];
  const raceOutcomes: Record<string, number> = {};
  const raceDeadline = Date.now() + SECONDS * 1_000;
  let current = 1;
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      while (Date.now() < raceDeadline) {
        const started = performance.now();
        const result = await call('PATCH', '/v1/flags/contended', { defaultValue: writer }, { 'if-match': `"${current}"` });
        raceLatencies.push(performance.now() - started);
        const outcome = result.status === 200 ? 'won' : (result.body.error?.code ?? String(result.status));
        raceOutcomes[outcome] = (raceOutcomes[outcome] ?? 0) + 1;
        if (result.status === 200) current = Math.max(current, result.body.version);
        else if (result.status === 409) current = Math.max(current, (result.body.error as { details?: { currentVersion?: number } } | undefined)?.details?.currentVersion ?? current);
      }
    }),
  );

  console.log(`\nPATCH over HTTP, ${WRITERS} concurrent writers, ${SECONDS} s per phase (one API process, embedded PostgreSQL)`);
  console.log(summary('each writer on its own flag', ownLatencies, ownOutcomes, SECONDS));
  console.log(summary('all writers on one flag (If-Match races)', raceLatencies, raceOutcomes, SECONDS));
  const verify = await fetch(`${bench.baseUrl}/v1/audit/verify`, { headers });
  console.log(`audit chain after the run: ${JSON.stringify(await verify.json())}`);
} finally {
  await bench.stopService(child);
  rmSync(bench.dataDir, { recursive: true, force: true });
}
