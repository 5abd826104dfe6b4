// Operations with the real CLI against the real service and a real worker: kill and release a
// category, pause a rollout, file and approve a high-impact change as two people, export 10,000
// audit entries streamed with bounded memory and resumed from a cursor; bad arguments fail in one line.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { parse } from 'yaml';
import { runCli, type CliRun } from '../support/cli.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type RolloutHarness } from '../support/rollout-harness.ts';

describe('flagship operations', () => {
  let harness: RolloutHarness;
  let folder: string;
  const tokens: Record<string, string> = {};
  const as = (who: string) => (...args: string[]): Promise<CliRun> => runCli(args, { env: { FLAGSHIP_URL: harness.api.baseUrl, FLAGSHIP_TOKEN: tokens[who] ?? harness.api.adminToken } });

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
    folder = mkdtempSync(join(tmpdir(), 'flagship-ops-'));
    for (const [name, scopes] of [['alice', ['feature_flag:manage']], ['bob', ['feature_flag:approve', 'feature_flag:manage']], ['oncall', ['feature_flag:killswitch']]] as const) {
      const created = await harness.api.request('POST', '/v1/tokens', { body: { name, owner: { id: `${name}@example.com` }, scopes } });
      tokens[name] = created.body.token;
    }
  });
  afterAll(async () => {
    await harness.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const evaluate = async (flagKey: string) => (await harness.api.request('POST', '/v1/evaluate', { body: { flagKey, context: { userId: 'u-1' } } })).body;

  it('kill turns a category off and release turns it back on', async () => {
    await harness.createFlag('one-click-buy', { killswitch: 'checkout', defaultValue: true, offValue: false });
    const killed = await as('oncall')('kill', 'checkout', '--reason', 'INC-7: checkout errors', '-o', 'json');
    expect(killed.code).toBe(0);
    expect(JSON.parse(killed.stdout)).toMatchObject({ category: 'checkout', engaged: true, reason: 'INC-7: checkout errors', updatedBy: 'oncall@example.com' });
    expect(await evaluate('one-click-buy')).toMatchObject({ value: false, reason: 'off' });
    expect((await as('oncall')('release', 'checkout', '--reason', 'INC-7 resolved')).code).toBe(0);
    expect(await evaluate('one-click-buy')).toMatchObject({ value: true, reason: 'default' });
    // Without the killswitch scope: refused, exit 5, one line.
    const refused = await as('alice')('kill', 'checkout', '--reason', 'x');
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/^flagship: permission_denied: .+\n$/);
  });

  it('rollout pause pauses a running plan, and status shows it with the Temporal UI link', async () => {
    await harness.createFlag('ramp-me');
    const started = await as('alice')('rollout', 'start', 'ramp-me', '--step', '10@1s', '--step', '100@1h', '--reason', 'ramp');
    expect(started.code).toBe(0);
    await harness.waitForRollout('ramp-me', (rollout) => rollout.currentStep === 0, 'first step applied');
    const paused = await as('alice')('rollout', 'pause', 'ramp-me', '--reason', 'error rate');
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain('of ramp-me: paused (manual by alice@example.com: error rate)');
    expect(await harness.rollout('ramp-me')).toMatchObject({ state: 'paused', percentage: 10 });
    const status = await as('alice')('rollout', 'status', 'ramp-me');
    expect(status.stdout).toContain('Temporal UI: http://127.0.0.1:8233/namespaces/');
    expect(status.stdout).toMatch(/STEP\s+TARGET\s+PLANNED\s+DUE\s+APPLIED\n1\s+10%/);
    await as('alice')('rollout', 'cancel', 'ramp-me');
  });

  it('a high-impact edit is filed (exit 4) and applied when a second person approves it', async () => {
    await harness.createFlag('payments-v2', { highImpact: true });
    const filed = await as('alice')('flags', 'edit', 'payments-v2', '--set', 'defaultValue=true', '--reason', 'launch');
    expect(filed.code).toBe(4);
    const id = /change request (cr_\S+) filed/.exec(filed.stderr)?.[1];
    expect(id).toBeDefined();
    expect((await harness.flag('payments-v2')).defaultValue).toBe(false);
    const selfApproved = await as('alice')('changes', 'approve', id!);
    expect(selfApproved.code).toBe(5);
    const listed = await as('bob')('changes', 'ls', '--status', 'pending', '-o', 'json');
    expect(JSON.parse(listed.stdout).map((request: { id: string }) => request.id)).toContain(id);
    const approved = await as('bob')('changes', 'approve', id!, '--comment', 'looks right', '-o', 'json');
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ id, status: 'applied', approvedBy: 'bob@example.com' });
    expect(await harness.flag('payments-v2')).toMatchObject({ defaultValue: true, version: 2 });
  });

  it('exports 10,000 audit entries page by page with bounded memory, and resumes from a cursor', async () => {
    const owner = new pg.Client({ connectionString: harness.api.db.ownerUrl });
    await owner.connect();
    // Each entry carries about 4 KB, so the whole export is some 40 MB: holding it would show in the RSS.
    await owner.query(`
      INSERT INTO audit_log (actor, actor_name, action, entity_type, entity_key, version, before, after, diff, prev_hash, hash)
      SELECT 'bulk-loader', 'Bulk loader', 'flag.updated', 'flag', 'bulk-' || i, i,
             jsonb_build_object('note', repeat('b', 2000)), jsonb_build_object('note', repeat('a', 2000)), '[]'::jsonb, '', ''
      FROM generate_series(1, 10000) AS i`);
    await owner.end();
    // The heap is capped below the export's size: a CLI that held the entries would run out of memory.
    const run = (...args: string[]) => runCli(['audit', 'export', '--actor', 'bulk-loader', ...args], { env: { FLAGSHIP_URL: harness.api.baseUrl, FLAGSHIP_TOKEN: harness.api.adminToken, NODE_OPTIONS: '--max-old-space-size=32' }, measureRss: true });

    const whole = join(folder, 'whole.ndjson');
    const onePage = await run('--max-pages', '1', '-f', join(folder, 'page.ndjson'));
    const all = await run('-f', whole);
    expect(all.code).toBe(0);
    expect(all.stderr).toContain('exported 10000 entries');
    const entries = readFileSync(whole, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as { id: number; entityKey: string });
    expect(entries).toHaveLength(10_000);
    expect(new Set(entries.map((entry) => entry.entityKey)).size).toBe(10_000);
    console.log(`audit export max RSS: one page ${(onePage.maxRssBytes! / 2 ** 20).toFixed(1)} MB, 10,000 entries (${(Buffer.byteLength(readFileSync(whole)) / 2 ** 20).toFixed(1)} MB of NDJSON) ${(all.maxRssBytes! / 2 ** 20).toFixed(1)} MB`);
    expect(onePage.code).toBe(0);

    const resumed = join(folder, 'resumed.ndjson');
    const first = await run('--max-pages', '20', '-f', resumed);
    expect(first.code).toBe(0);
    const cursor = /resume with --cursor (\S+)/.exec(first.stderr)?.[1];
    expect(cursor).toBeDefined();
    expect(readFileSync(resumed, 'utf8').trimEnd().split('\n')).toHaveLength(4_000);
    const rest = await run('--cursor', cursor!, '-f', resumed);
    expect(rest.code).toBe(0);
    expect(rest.stderr).toContain('exported 6000 entries');
    expect(readFileSync(resumed, 'utf8')).toBe(readFileSync(whole, 'utf8'));

    const csv = await runCli(['audit', 'export', '--actor', 'bulk-loader', '--format', 'csv', '--max-pages', '1', '--page-size', '2'], { env: { FLAGSHIP_URL: harness.api.baseUrl, FLAGSHIP_TOKEN: harness.api.adminToken } });
    expect(csv.stdout.split('\n')[0]).toBe('id,at,actor,actorName,tokenId,approver,action,entityType,entityKey,version,diff,hash');
    expect(csv.stdout.trimEnd().split('\n')).toHaveLength(3);
  });

  it('login checks the token and stores it as a profile; an explicit --profile wins over FLAGSHIP_URL', async () => {
    const config = join(folder, 'profiles', 'config.yaml');
    const env = { FLAGSHIP_CONFIG: config };
    const refused = await runCli(['login', '--profile', 'staging', '--url', harness.api.baseUrl], { env, input: 'ffs_not-a-token\n' });
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('does not accept this token; nothing was stored');
    // A token from stdin, as a pipeline hands it over; an approver's token is a good token too.
    const stored = await runCli(['login', '--profile', 'staging', '--url', harness.api.baseUrl], { env, input: `${tokens.oncall}\n` });
    expect(stored.code).toBe(0);
    expect(parse(readFileSync(config, 'utf8'))).toEqual({ currentProfile: 'staging', profiles: { staging: { url: harness.api.baseUrl, token: tokens.oncall } } });
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect((await runCli(['login', '--profile', 'admin', '--url', harness.api.baseUrl, '--token', harness.api.adminToken], { env })).code).toBe(0);

    // The current profile (staging: the oncall token) cannot list flags; --profile admin can,
    // even with FLAGSHIP_URL pointing somewhere unreachable.
    expect((await runCli(['flags', 'ls'], { env })).code).toBe(5);
    const explicit = await runCli(['--profile', 'admin', 'flags', 'ls', '-o', 'json'], { env: { ...env, FLAGSHIP_URL: 'http://127.0.0.1:9', FLAGSHIP_TOKEN: 'nope' } });
    expect(explicit.code).toBe(0);
    expect(Array.isArray(JSON.parse(explicit.stdout))).toBe(true);
    // Without --profile the environment comes before the current profile.
    const fromEnv = await runCli(['flags', 'ls'], { env: { ...env, FLAGSHIP_URL: harness.api.baseUrl, FLAGSHIP_TOKEN: harness.api.adminToken } });
    expect(fromEnv.code).toBe(0);
    expect((await runCli(['--profile', 'nope', 'flags', 'ls'], { env })).code).toBe(2);
  });

  it('verifies a downloaded snapshot against the public key, refuses a tampered one, and imports it as a document the server already matches', async () => {
    const snapshot = join(folder, 'snapshot.json');
    expect((await as('admin')('snapshot', 'get', '-f', snapshot)).code).toBe(0);
    const verified = await as('admin')('snapshot', 'verify', snapshot, '-o', 'json');
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ verified: true, source: snapshot });
    expect((await as('admin')('snapshot', 'verify', '-o', 'json')).code).toBe(0);

    const tampered = join(folder, 'tampered.json');
    // One space more: the same JSON to a parser, other bytes to the signature.
    writeFileSync(tampered, readFileSync(snapshot, 'utf8').replace('{', '{ '));
    writeFileSync(`${tampered}.sig`, readFileSync(`${snapshot}.sig`));
    const refused = await as('admin')('snapshot', 'verify', tampered);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('does NOT verify');

    const document = join(folder, 'from-snapshot.yaml');
    expect((await as('admin')('import', 'snapshot', snapshot, '-f', document)).code).toBe(0);
    const plan = await as('admin')('plan', '-f', document, '-o', 'json');
    expect(JSON.parse(plan.stdout).changes).toEqual([]);
  });

  it('answers bad arguments with one line and a non-zero exit', async () => {
    const cases: [string[], number, RegExp][] = [
      [['flags', 'create'], 2, /^error: missing required argument 'key'\n$/],
      [['--output', 'xml', 'flags', 'ls'], 2, /^error: option '-o, --output <format>' argument 'xml' is invalid/],
      [['flgs', 'ls'], 2, /^error: unknown command 'flgs'/],
      [['rollout', 'start', 'x', '--step', 'soon'], 2, /^flagship: a step is PERCENT@WHEN/],
      [['eval', 'x', '--context', '{not json'], 2, /^flagship: --context takes a JSON object/],
      [['flags', 'get', 'no-such-flag'], 6, /^flagship: not_found: /],
    ];
    for (const [args, code, message] of cases) {
      const run = await as('admin')(...args);
      expect({ args, code: run.code, lines: run.stderr.trimEnd().split('\n').length }).toEqual({ args, code, lines: 1 });
      expect(run.stderr).toMatch(message);
    }
    const noUrl = await runCli(['flags', 'ls']);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toBe('flagship: no service URL: pass --url, set FLAGSHIP_URL, or run flagship login --url URL\n');
  });
});
