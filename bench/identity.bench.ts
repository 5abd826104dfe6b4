// `npm run bench:identity`: what a JWT caller pays on evaluation against a static-token caller, in
// one run. First in process (mitata): authenticating a header seen before, a static token's against
// a JWT's (the JWT's verified principal is remembered until its exp), and a JWT's first sight (RS256
// verification), for scale. Then over real HTTP: the service on its embedded default with an
// identity provider this process serves on loopback, /v1/evaluate loaded by autocannon with a
// static token and with a JWT in turns (static, JWT, static, JWT), BENCH_SECONDS (10) each.
// Last, what the approval guard adds to a write with 10,000 flags: the query that finds the
// high-impact flags a change reaches (up the prerequisite chain), with its index and without (the
// planner kept off it, same run), and a plain flag's PATCH latency over HTTP, which includes it.
// On a shared machine the HTTP figures move with the neighbours; the in-process ones much less.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet } from 'jose';
import { bench, do_not_optimize, run } from 'mitata';
import { createAuthenticator } from '../src/api/auth.ts';
import { parseRoleMap } from '../src/api/identity-claims.ts';
import { createJwtAuthenticator } from '../src/api/jwt-authenticator.ts';
import { highImpactFlagsReachedFrom } from '../src/data/high-impact-reach.ts';
import { createDatabasePool } from '../src/data/pool.ts';
import { sql } from '../src/data/sql.ts';
import { generateTokenSecret, hashToken } from '../src/data/tokens.ts';
import type { CommonQueryMethods } from 'slonik';
import { startLoopbackIdentityProvider } from '../test/support/identity-provider.ts';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';
import { prepareBenchService, seedFlags } from './service.ts';
import { toPrincipal } from '../src/api/principal.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const root = new URL('../', import.meta.url).pathname;
const idp = await startLoopbackIdentityProvider();
const roles = { 'flag-evaluators': { scopes: ['feature_flag:evaluate'] } };
const claims = { sub: 'alice@example.com', name: 'Alice', groups: ['flag-evaluators'] };

// ── in process ──
const secret = generateTokenSecret();
const token = { id: 'tok_1', name: 'svc', owner: { id: 'svc', name: 'svc', kind: 'service' as const }, tokenHash: hashToken(secret), scopes: ['feature_flag:evaluate' as const], projectIds: null };
const principal = toPrincipal(token);
const tokens = { lookup: (hash: string) => (hash === token.tokenHash ? principal : undefined), changeCount: 0 };
const jwtOptions = { issuer: idp.issuer, audience: idp.audience, identityClaim: 'sub' as const, groupsClaim: 'groups', roles: parseRoleMap(JSON.stringify(roles)), keys: createLocalJWKSet({ keys: idp.published.map((key) => key.publicJwk) }) };
const authenticator = createAuthenticator(tokens, { jwt: createJwtAuthenticator(jwtOptions) });
// A cache too small for any entry: every call verifies the signature.
const verifyEveryTime = createAuthenticator(tokens, { jwt: createJwtAuthenticator({ ...jwtOptions, cacheBytes: 1 }) });
const staticHeader = `Bearer ${secret}`;
const jwtHeader = `Bearer ${await idp.sign(claims)}`;
await authenticator.authenticate(jwtHeader);

bench('static token, seen before', () => do_not_optimize(authenticator.authenticate(staticHeader)));
bench('JWT, seen before (until its exp)', () => do_not_optimize(authenticator.authenticate(jwtHeader)));
bench('JWT, first sight: RS256 verification and claim mapping', async () => do_not_optimize(await verifyEveryTime.authenticate(jwtHeader)));
await run({ format: 'mitata' });

// ── over HTTP, the real service ──
const service = await prepareBenchService({
  FLAGS_OIDC_ISSUER: idp.issuer,
  FLAGS_OIDC_AUDIENCE: idp.audience,
  FLAGS_OIDC_ROLES: JSON.stringify(roles),
});
let child: ChildProcess | undefined;
try {
  child = (await service.startService()).child;
  const admin = { authorization: `Bearer ${service.adminToken()}`, 'content-type': 'application/json' };
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${service.baseUrl}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<{ token?: string }>;
  };
  await post('/v1/flags', { key: 'bench-flag', type: 'boolean', defaultValue: false });
  const { token: evaluatorToken } = await post('/v1/tokens', { name: 'bench-evaluator', owner: { id: 'bench', kind: 'service' }, scopes: ['feature_flag:evaluate'] });
  const jwt = await idp.sign(claims, { expiresAt: Math.floor(Date.now() / 1_000) + 3_600 });
  const bodies = benchContexts(2_000).map((context) => JSON.stringify({ flagKey: 'bench-flag', context }));
  const load = (name: string, bearer: string, durationSeconds: number) => {
    const scenarioFile = join(service.dataDir, 'scenario.json');
    writeFileSync(scenarioFile, JSON.stringify({ name, url: `${service.baseUrl}/v1/evaluate`, method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, bodies, connections: 16, durationSeconds }));
    const result = spawnSync(process.execPath, [join(root, 'bench/http-load.ts'), scenarioFile], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (result.status !== 0) throw new Error(`load generator failed: ${result.error ?? result.stderr}`);
    return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Record<string, number | string>;
  };
  load('warm-up', evaluatorToken!, 3);
  load('warm-up', jwt, 3);
  console.log(`\nPOST /v1/evaluate, 16 connections, ${SECONDS} s each, in turns:`);
  for (const [name, bearer] of [['static token', evaluatorToken!], ['JWT', jwt], ['static token', evaluatorToken!], ['JWT', jwt]] as const) {
    const result = load(name, bearer, SECONDS);
    console.log(`${name.padEnd(14)} ${Number(result.rps).toFixed(0).padStart(7)} req/s   p50 ${Number(result.p50).toFixed(2).padStart(6)} ms   p95 ${Number(result.p95).toFixed(2).padStart(6)} ms   p99 ${Number(result.p99).toFixed(2).padStart(6)} ms   statuses ${JSON.stringify(result.statusCodes)}`);
  }
  console.log(`JWKS fetched ${idp.jwksFetches} time(s) during the whole run`);

  // In batches: one write transaction of 10,000 flags outlasts the write deadline on a busy machine.
  const seeded = benchFlags(10_000);
  for (let start = 0; start < seeded.length; start += 1_000) await seedFlags(service.databaseUrl(), start === 0 ? benchSegments() : [], seeded.slice(start, start + 1_000));
  await post('/v1/flags', { key: 'chain-a', type: 'boolean', defaultValue: false });
  await post('/v1/flags', { key: 'chain-b', type: 'boolean', defaultValue: false, prerequisites: [{ flagKey: 'chain-a', value: true }] });
  await post('/v1/flags', { key: 'chain-c', type: 'boolean', defaultValue: false, highImpact: true, prerequisites: [{ flagKey: 'chain-b', value: true }] });
  const db = await createDatabasePool(service.databaseUrl());
  const timeReach = async (queries: CommonQueryMethods, key: string, runs = 200) => {
    for (let warmUp = 0; warmUp < 20; warmUp += 1) await highImpactFlagsReachedFrom(queries, [key]);
    const started = performance.now();
    for (let run = 0; run < runs; run += 1) await highImpactFlagsReachedFrom(queries, [key]);
    return ((performance.now() - started) / runs).toFixed(2);
  };
  console.log('\nthe approval guard\'s reach query, 10,000 flags (ms per query, 200 runs):');
  for (const [what, key] of [['a flag nothing depends on', 'flag-00123'], ['a prerequisite two levels below a high-impact flag', 'chain-a']] as const) {
    const indexed = await timeReach(db, key);
    const scanned = await db.transaction(async (tx) => {
      await tx.query(sql.typeAlias('void')`SET LOCAL enable_bitmapscan = off`);
      await tx.query(sql.typeAlias('void')`SET LOCAL enable_indexscan = off`);
      return timeReach(tx, key);
    });
    console.log(`${what.padEnd(52)} with the index ${indexed.padStart(6)}   without ${scanned.padStart(6)}`);
  }
  await db.end();
  const patches: number[] = [];
  // The first 20 warm up (and let the API finish compiling the seeded flags); 200 are timed.
  for (let version = 1; version <= 220; version += 1) {
    const started = performance.now();
    const response = await fetch(`${service.baseUrl}/v1/flags/flag-00123`, { method: 'PATCH', headers: admin, body: JSON.stringify({ description: `v${version}`, version }) });
    if (!response.ok) throw new Error(`PATCH: ${response.status} ${await response.text()}`);
    if (version > 20) patches.push(performance.now() - started);
  }
  patches.sort((a, b) => a - b);
  console.log(`PATCH of a plain flag (guard included), 200 in a row: p50 ${patches[100]!.toFixed(2)} ms, p99 ${patches[197]!.toFixed(2)} ms`);
} finally {
  if (child) await service.stopService(child);
  await idp.close();
}
