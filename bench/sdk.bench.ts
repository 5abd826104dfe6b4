/**
 * SDK benchmark: `node bench/sdk.bench.ts` (npm run bench:sdk).
 *
 * Starts the real service in this process — an embedded PostgreSQL and the Temporal dev server in a
 * temporary data folder, the API on a free port behind a request counter — and measures:
 *
 *   1. Local evaluation latency, p50/p99/p99.9 over many calls, through the SDK's whole hot path
 *      (`client.evaluate`: the never-throw wrapper, the type check, exposure recording when on),
 *      for single flags and for bulk; and the same answers through `POST /v1/evaluate` and
 *      `/v1/evaluate/bulk` over keep-alive HTTP, one request at a time.
 *   2. The lru-cache question: what a result cache in front of the engine costs and saves, for one
 *      flag and for bulk, at a high and a low hit rate.
 *   3. HTTP calls per minute: four "services" each check flags at CHECKS_PER_SECOND for a fixed
 *      window, concurrently — three with the SDK (poll only; poll + stream; poll + stream +
 *      exposures) and one calling /v1/evaluate per check. Two flag changes happen in the window.
 *      Requests are counted at the server, per token, and scaled to a minute.
 *
 * Environment: BENCH_SDK_WINDOW_S (default 120), BENCH_SDK_CALLS (default 1,000,000),
 * BENCH_SDK_HTTP_CALLS (default 5,000), BENCH_SDK_CHECKS_PER_S (default 100).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { createApp } from '../src/api/app.ts';
import { openApiDependencies } from '../src/api/open-dependencies.ts';
import { migrate } from '../src/data/migrate.ts';
import { ensureAdminToken, generateTokenSecret } from '../src/data/tokens.ts';
import { compileFlagSet, evaluate, evaluateAll, type EvaluationContext, type EvaluationResult } from '@flagship/engine';
import { startEmbeddedPostgres } from '../src/launcher/embedded-postgres.ts';
import { findTemporalCli } from '../src/launcher/temporal-cli.ts';
import { startTemporalDevServer } from '../src/launcher/temporal-dev-server.ts';
import { createLogger } from '../src/log.ts';
import { createClient, type ClientOptions, type FlagsClient } from '@flagship/sdk';
import { freePorts } from '../test/support/ports.ts';
import { seededRandom, uuidFrom } from '../test/engine/support/seeded-random.ts';
import { parseOutboundAllowList } from '../src/outbound/outbound-policy.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const WINDOW_S = Number(process.env.BENCH_SDK_WINDOW_S ?? 120);
const CALLS = Number(process.env.BENCH_SDK_CALLS ?? 1_000_000);
const HTTP_CALLS = Number(process.env.BENCH_SDK_HTTP_CALLS ?? 5_000);
const CHECKS_PER_SECOND = Number(process.env.BENCH_SDK_CHECKS_PER_S ?? 100);
const BULK_FLAGS = 200;

// ───────────────────────────── users ─────────────────────────────

const random = seededRandom(7);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const users: EvaluationContext[] = Array.from({ length: 10_000 }, (_, i) => ({
  userId: uuidFrom(random),
  country: pick(['DE', 'FR', 'NL', 'US', 'GB']),
  plan: pick(['pro', 'free', 'team']),
  email: `user${i}@${pick(['example.com', 'mail.test'])}`,
}));

// ───────────────────────────── measurement ─────────────────────────────

interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  mean: number;
}

/** Per-call wall time with performance.now() around each call (its own cost is reported as "timer"). */
function latency(calls: number, fn: (i: number) => unknown): Percentiles {
  const samples = new Float64Array(calls);
  let sink = 0;
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    const result = fn(i);
    samples[i] = performance.now() - started;
    if (result === undefined) sink++;
  }
  if (sink === -1) console.log(sink);
  return summarize(samples);
}

/** Mean per call without per-call timing: the loop's time over the count. */
function throughput(calls: number, fn: (i: number) => unknown): number {
  let sink = 0;
  const started = performance.now();
  for (let i = 0; i < calls; i++) if (fn(i) === undefined) sink++;
  const ms = performance.now() - started;
  if (sink === -1) console.log(sink);
  return (ms * 1e6) / calls;
}

async function latencyAsync(calls: number, fn: (i: number) => Promise<unknown>): Promise<Percentiles> {
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await fn(i);
    samples[i] = performance.now() - started;
  }
  return summarize(samples);
}

function summarize(samples: Float64Array): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  let sum = 0;
  for (const value of sorted) sum += value;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), mean: sum / sorted.length };
}

const fmtMs = (ms: number) => (ms < 0.001 ? `${(ms * 1e6).toFixed(0)} ns` : ms < 1 ? `${(ms * 1e3).toFixed(2)} µs` : `${ms.toFixed(2)} ms`);
const fmtNs = (ns: number) => (ns < 1_000 ? `${ns.toFixed(0)} ns` : `${(ns / 1_000).toFixed(2)} µs`);
const pad = (text: string, width: number) => text.padEnd(width);
const padLeft = (text: string, width: number) => text.padStart(width);
const row = (label: string, p: Percentiles, extra = '') => console.log(`  ${pad(label, 48)}${padLeft(fmtMs(p.p50), 11)}${padLeft(fmtMs(p.p99), 11)}${padLeft(fmtMs(p.p999), 11)}${padLeft(fmtMs(p.mean), 11)}  ${extra}`);
const header = () => console.log(`  ${pad('', 48)}${padLeft('p50', 11)}${padLeft('p99', 11)}${padLeft('p99.9', 11)}${padLeft('mean', 11)}`);

// ───────────────────────────── the service ─────────────────────────────

const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench');
const dataDir = mkdtempSync(join(tmpdir(), 'flags-sdk-bench-'));
// PostgreSQL runs as its own user when we are root, and must be able to reach its folder.
chmodSync(dataDir, 0o755);
const stops: (() => Promise<void>)[] = [];
const cleanUp = async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
};

/** Requests per token and path, counted before the app sees them. */
const counts = new Map<string, Map<string, number>>();
const tokenNames = new Map<string, string>();
const streamsOpened = new Map<string, number>();
function countRequest(req: IncomingMessage, res: ServerResponse): void {
  const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const who = tokenNames.get(token) ?? 'other';
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const add = (key: string) => {
    const byPath = counts.get(who) ?? new Map<string, number>();
    counts.set(who, byPath);
    byPath.set(key, (byPath.get(key) ?? 0) + 1);
  };
  // A stream stays open past the window: counted apart, when it opens.
  if (path === '/v1/events') streamsOpened.set(who, (streamsOpened.get(who) ?? 0) + 1);
  else res.once('finish', () => add(`${req.method} ${path} ${res.statusCode}`));
}

try {
  const started = performance.now();
  const postgres = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg'), port: await freePorts(1), log });
  stops.push(postgres.stop);
  await migrate({ databaseUrl: postgres.migrationDatabaseUrl, log });
  const temporalPort = await freePorts(3);
  const temporal = await startTemporalDevServer({ cliPath: findTemporalCli(), dataDir: join(dataDir, 'temporal'), port: temporalPort, uiPort: await freePorts(1), namespace: 'default', log });
  stops.push(temporal.stop);
  const opened = await openApiDependencies({ databaseUrl: postgres.databaseUrl, temporalAddress: temporal.address, temporalNamespace: 'default', taskQueue: 'flags-bench', dataDir, log, outboundPolicy: parseOutboundAllowList(undefined) });
  stops.push(opened.close);
  const adminToken = generateTokenSecret();
  await ensureAdminToken(opened.deps.db, adminToken);
  const app = createApp(opened.deps);
  const handle = app.callback();
  const server = createServer((req, res) => {
    countRequest(req, res);
    void handle(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  stops.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (method: string, path: string, body?: unknown, token = adminToken) => {
    const response = await fetch(`${baseUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await response.text();
    if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const token = async (name: string, scopes: string[]) => {
    const secret = (await call('POST', '/v1/tokens', { name, owner: { id: name, kind: 'service' }, scopes })).token as string;
    tokenNames.set(secret, name);
    return secret;
  };
  tokenNames.set(adminToken, 'admin');

  await call('POST', '/v1/segments', { key: 'beta-users', name: 'Beta users', conditions: [{ attribute: 'plan', op: 'in', value: ['pro', 'team'] }] });
  await call('POST', '/v1/flags', { key: 'plain', type: 'boolean', defaultValue: true });
  await call('POST', '/v1/flags', { key: 'rollout', type: 'boolean', defaultValue: false, rollout: { percentage: 25 } });
  await call('POST', '/v1/flags', {
    key: 'targeted', type: 'string', defaultValue: 'control', variants: { a: 'layout-a', b: 'layout-b', c: 'layout-c' },
    rules: [{ id: 'eu-beta', conditions: [{ attribute: 'country', op: 'in', value: ['DE', 'FR', 'NL'] }, { segment: 'beta-users' }, { attribute: 'email', op: 'regex', value: '@example\\.com$' }], serve: { value: 'layout-a' } }],
    rollout: { distribution: [{ variant: 'a', weight: 50 }, { variant: 'b', weight: 30 }, { variant: 'c', weight: 20 }] },
  });
  for (let i = 0; i < BULK_FLAGS - 3; i++) {
    const kind = i % 3;
    await call('POST', '/v1/flags', kind === 0
      ? { key: `bulk-${i}`, type: 'boolean', defaultValue: false, rollout: { percentage: i % 100 } }
      : kind === 1
        ? { key: `bulk-${i}`, type: 'boolean', defaultValue: false, rules: [{ id: 'eu', conditions: [{ attribute: 'country', op: 'in', value: ['DE', 'FR'] }], serve: { value: true } }] }
        : { key: `bulk-${i}`, type: 'number', defaultValue: i });
  }
  const publicKey = (await call('GET', '/v1/snapshot/public-key')).publicKeyPem as string;
  const snapshotBody = Buffer.from(await (await fetch(`${baseUrl}/v1/snapshot`, { headers: { authorization: `Bearer ${adminToken}`, 'accept-encoding': 'identity' } })).arrayBuffer());
  const snapshotBytes = snapshotBody.length;
  const snapshotGzipBytes = gzipSync(snapshotBody).length;
  console.log(`Node ${process.version}; the service (embedded PostgreSQL, Temporal dev server, API) up in ${((performance.now() - started) / 1000).toFixed(1)} s; ${BULK_FLAGS} flags; snapshot ${(snapshotBytes / 1024).toFixed(1)} KiB (${(snapshotGzipBytes / 1024).toFixed(1)} KiB gzipped)\n`);

  // ───────────────────────────── 1. latency ─────────────────────────────

  const clients: FlagsClient[] = [];
  const newClient = (options: Partial<ClientOptions> & { token: string }) => {
    const created = createClient({ url: baseUrl, publicKey, logger: null, refreshIntervalMs: 30_000, ...options });
    clients.push(created);
    return created;
  };
  stops.push(async () => {
    for (const created of clients) await created.close();
  });
  const latencyToken = await token('bench-latency', ['feature_flag:evaluate']);
  const sdk = newClient({ token: latencyToken });
  const withExposures = newClient({ token: latencyToken, exposures: { flushIntervalMs: 5_000 } });
  await sdk.waitUntilReady();
  await withExposures.waitUntilReady();
  // The engine alone on the same snapshot, for the SDK wrapper's overhead and the LRU question.
  const snapshotDocument = JSON.parse(snapshotBody.toString('utf8'));
  const engineSet = compileFlagSet({ flags: snapshotDocument.flags, segments: snapshotDocument.segments, killswitches: new Set(snapshotDocument.killswitches) });
  const u = (i: number) => users[i % users.length]!;

  // Warm up every path before timing.
  for (let i = 0; i < 200_000; i++) {
    sdk.evaluate('targeted', u(i), 'x');
    sdk.isEnabled('rollout', u(i));
    withExposures.isEnabled('rollout', u(i));
  }
  for (let i = 0; i < 2_000; i++) sdk.evaluateAll(u(i));

  console.log(`1. Local evaluation through the SDK (${CALLS.toLocaleString('en')} calls each, users rotating over ${users.length.toLocaleString('en')}; per-call timing with performance.now())`);
  header();
  row('timer alone (performance.now() pair)', latency(CALLS, () => 1));
  row(`engine alone: evaluate('targeted'), no SDK wrapper`, latency(CALLS, (i) => evaluate(engineSet, 'targeted', u(i))), `${fmtNs(throughput(CALLS, (i) => evaluate(engineSet, 'targeted', u(i))))}/call untimed`);
  for (const key of ['plain', 'rollout', 'targeted'] as const) {
    const fallback = key === 'targeted' ? 'x' : false;
    row(`evaluate('${key}')`, latency(CALLS, (i) => sdk.evaluate(key, u(i), fallback)), `${fmtNs(throughput(CALLS, (i) => sdk.evaluate(key, u(i), fallback)))}/call untimed`);
  }
  row(`isEnabled('rollout')`, latency(CALLS, (i) => sdk.isEnabled('rollout', u(i))), `${fmtNs(throughput(CALLS, (i) => sdk.isEnabled('rollout', u(i))))}/call untimed`);
  row(`isEnabled('rollout'), exposures on (dedupe LRU)`, latency(CALLS, (i) => withExposures.isEnabled('rollout', u(i))), `${fmtNs(throughput(CALLS, (i) => withExposures.isEnabled('rollout', u(i))))}/call untimed`);
  row(`evaluate('missing') → fallback, reason error`, latency(CALLS, (i) => sdk.evaluate('missing', u(i), false)));
  const bulkCalls = Math.max(1_000, Math.floor(CALLS / 100));
  row(`evaluateAll (${BULK_FLAGS} flags)`, latency(bulkCalls, (i) => sdk.evaluateAll(u(i))), `${fmtNs(throughput(bulkCalls, (i) => sdk.evaluateAll(u(i))))}/call untimed`);
  const exposureStats = withExposures.state().exposures!;
  console.log(`  exposures on: ${(exposureStats.deduplicated + exposureStats.queued + exposureStats.sent + exposureStats.dropped).toLocaleString('en')} evaluations recorded, ${exposureStats.deduplicated.toLocaleString('en')} (${((100 * exposureStats.deduplicated) / Math.max(1, exposureStats.deduplicated + exposureStats.queued + exposureStats.sent + exposureStats.dropped)).toFixed(1)} %) dropped by the dedupe LRU (10,000 users × 2 outcomes)\n`);

  console.log(`   The same through the HTTP API (one request at a time over keep-alive, client and server in this process)`);
  header();
  const httpToken = await token('bench-http-latency', ['feature_flag:evaluate']);
  const evaluateOverHttp = (flagKey: string, context: EvaluationContext) => fetch(`${baseUrl}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${httpToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ flagKey, context }) }).then((response) => response.json());
  for (let i = 0; i < 500; i++) await evaluateOverHttp('targeted', u(i));
  for (const key of ['plain', 'targeted']) row(`POST /v1/evaluate ('${key}')`, await latencyAsync(HTTP_CALLS, (i) => evaluateOverHttp(key, u(i))));
  row(`POST /v1/evaluate/bulk (${BULK_FLAGS} flags)`, await latencyAsync(Math.max(200, Math.floor(HTTP_CALLS / 5)), (i) =>
    fetch(`${baseUrl}/v1/evaluate/bulk`, { method: 'POST', headers: { authorization: `Bearer ${httpToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ context: u(i) }) }).then((response) => response.json())));
  console.log();

  // ───────────────────────────── 2. the lru-cache question ─────────────────────────────

  console.log('2. Would an LRU of results in front of the engine pay? (engine on the SDK\'s compiled set; key = flag + JSON.stringify(context))');
  const singleCache = new LRUCache<string, EvaluationResult>({ max: 10_000 });
  const bulkCache = new LRUCache<string, EvaluationResult[]>({ max: 10_000 });
  const cachedSingle = (key: string, context: EvaluationContext) => {
    const cacheKey = `${key}|${JSON.stringify(context)}`;
    let result = singleCache.get(cacheKey);
    if (result === undefined) {
      result = evaluate(engineSet, key, context)!;
      singleCache.set(cacheKey, result);
    }
    return result;
  };
  const cachedBulk = (context: EvaluationContext) => {
    const cacheKey = JSON.stringify(context);
    let results = bulkCache.get(cacheKey);
    if (results === undefined) {
      results = evaluateAll(engineSet, context);
      bulkCache.set(cacheKey, results);
    }
    return results;
  };
  const hot = users.slice(0, 100); // 100 distinct users: ~100 % hits after warm-up
  const cold = users; // 10,000 distinct users cycling through a 10,000-entry cache: hits only after the first lap
  const freshUsers = (i: number) => ({ ...users[i % users.length]!, requestId: i }); // every context unique: 0 % hits
  console.log(`  ${pad('', 62)}${padLeft('ns/call', 12)}`);
  const line = (label: string, ns: number) => console.log(`  ${pad(label, 62)}${padLeft(fmtNs(ns), 12)}`);
  for (let i = 0; i < 100_000; i++) cachedSingle('targeted', hot[i % hot.length]!);
  line(`engine evaluate('targeted')`, throughput(CALLS, (i) => evaluate(engineSet, 'targeted', u(i))));
  line(`LRU single, all hits (100 users)`, throughput(CALLS, (i) => cachedSingle('targeted', hot[i % hot.length]!)));
  line(`LRU single, all misses (unique contexts)`, throughput(Math.floor(CALLS / 4), (i) => cachedSingle('targeted', freshUsers(i))));
  line(`  (JSON.stringify(context) alone)`, throughput(CALLS, (i) => JSON.stringify(u(i))));
  for (let i = 0; i < 1_000; i++) cachedBulk(hot[i % hot.length]!);
  line(`engine evaluateAll (${BULK_FLAGS} flags)`, throughput(bulkCalls, (i) => evaluateAll(engineSet, u(i))));
  line(`LRU bulk, all hits (100 users)`, throughput(bulkCalls * 10, (i) => cachedBulk(hot[i % hot.length]!)));
  line(`LRU bulk, all misses (unique contexts)`, throughput(bulkCalls, (i) => cachedBulk(freshUsers(i))));
  line(`LRU bulk, 10,000 users through a 10,000-entry cache (mixed)`, throughput(bulkCalls, (i) => cachedBulk(cold[i % cold.length]!)));
  bulkCache.clear();
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10_000; i++) cachedBulk(users[i]!);
  gc();
  console.log(`  heap held by a full 10,000-entry bulk cache: ~${((process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024).toFixed(1)} MiB\n`);
  bulkCache.clear();
  singleCache.clear();

  // ───────────────────────────── 3. HTTP calls per minute ─────────────────────────────

  console.log(`3. HTTP calls per minute: each service checks 3 flags per request at ${CHECKS_PER_SECOND} checks/s for ${WINDOW_S} s; two flag changes in the window; counted at the server`);
  const streamToken = await token('bench-stream-reader', ['feature_flag:manage']);
  const services = {
    'SDK, polling every 30 s': newClient({ token: await token('svc-sdk-poll', ['feature_flag:evaluate']) }),
    'SDK, polling 30 s + SSE stream': newClient({ token: await token('svc-sdk-stream', ['feature_flag:evaluate']), stream: { token: streamToken } }),
    'SDK, polling 30 s + SSE + exposures (10 s flush)': newClient({ token: await token('svc-sdk-exposures', ['feature_flag:evaluate']), stream: { token: streamToken }, exposures: { flushIntervalMs: 10_000 } }),
  };
  const sdkTokens: Record<string, string> = { 'SDK, polling every 30 s': 'svc-sdk-poll', 'SDK, polling 30 s + SSE stream': 'svc-sdk-stream', 'SDK, polling 30 s + SSE + exposures (10 s flush)': 'svc-sdk-exposures' };
  const directToken = await token('svc-http', ['feature_flag:evaluate']);
  await Promise.all(Object.values(services).map((service) => service.waitUntilReady()));
  // Count only the window: the start-up fetches (one snapshot per process) are reported apart.
  const startup = new Map([...counts].map(([who, byPath]) => [who, new Map(byPath)]));
  counts.clear();
  const windowStart = performance.now();
  const flags = ['plain', 'rollout', 'targeted'];
  let checks = 0;
  let directErrors = 0;
  const population = users.slice(0, 1_000);
  const tick = setInterval(() => {
    // 10 ms ticks: CHECKS_PER_SECOND / 100 checks per tick per service.
    for (let n = 0; n < CHECKS_PER_SECOND / 100; n++) {
      const context = population[checks % population.length]!;
      const key = flags[checks % flags.length]!;
      for (const service of Object.values(services)) service.evaluate(key, context, key === 'targeted' ? 'control' : false);
      fetch(`${baseUrl}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${directToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ flagKey: key, context }) })
        .then((response) => response.arrayBuffer())
        .catch(() => (directErrors += 1));
      checks += 1;
    }
  }, 10);
  const changeTimers = [1 / 3, 2 / 3].map((share, index) => setTimeout(() => {
    void call('GET', '/v1/flags/rollout').then((current) => call('PATCH', '/v1/flags/rollout', { rollout: { percentage: 30 + index * 10 }, version: current.version }));
  }, WINDOW_S * 1000 * share));
  await new Promise((resolve) => setTimeout(resolve, WINDOW_S * 1000));
  clearInterval(tick);
  for (const timer of changeTimers) clearTimeout(timer);
  const windowS = (performance.now() - windowStart) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const perMinute = (n: number) => (n * 60) / windowS;
  const describe = (who: string) => {
    const byPath = counts.get(who) ?? new Map<string, number>();
    const total = [...byPath.values()].reduce((sum, n) => sum + n, 0);
    const detail = [...byPath].sort().map(([key, n]) => `${key}: ${n}`).join(', ');
    return { total, detail };
  };
  console.log(`  window ${windowS.toFixed(1)} s, ${checks.toLocaleString('en')} checks per service (${(checks / windowS).toFixed(0)}/s)`);
  console.log(`  ${pad('service', 52)}${padLeft('requests', 10)}${padLeft('per minute', 12)}  detail`);
  for (const [label, client] of Object.entries(services)) {
    const { total, detail } = describe(sdkTokens[label]!);
    const exposures = client.state().exposures;
    console.log(`  ${pad(label, 52)}${padLeft(String(total), 10)}${padLeft(perMinute(total).toFixed(1), 12)}  ${detail}${exposures ? `; exposures sent ${exposures.sent}, deduplicated ${exposures.deduplicated}` : ''}`);
  }
  console.log(`  ${pad('  + SSE connections opened (both streaming SDKs, ever)', 52)}${padLeft(String(streamsOpened.get('bench-stream-reader') ?? 0), 10)}${padLeft('', 12)}  long-lived: one per streaming process, not per minute`);
  const direct = describe('svc-http');
  console.log(`  ${pad('POST /v1/evaluate per check', 52)}${padLeft(String(direct.total), 10)}${padLeft(perMinute(direct.total).toFixed(0), 12)}  ${direct.detail}${directErrors ? `; ${directErrors} failed` : ''}`);
  const pollOnly = describe('svc-sdk-poll').total;
  console.log(`  → with the SDK: ${perMinute(pollOnly).toFixed(1)} calls/min polling (+1 long-lived SSE connection when streaming) vs ${perMinute(direct.total).toFixed(0)} calls/min: ${(100 * (1 - pollOnly / Math.max(1, direct.total))).toFixed(2)} % fewer`);
  console.log(`  start-up, once per process: ${[...startup].filter(([who]) => who.startsWith('svc-')).map(([who, byPath]) => `${who} ${[...byPath].map(([key, n]) => `${key}: ${n}`).join(', ')}`).join('; ')}`);
} finally {
  await cleanUp();
}
