// `flagship login` through the identity provider's device flow (RFC 8628): the real CLI as a
// subprocess against the real API, which accepts the provider's JWTs, and a provider served on
// loopback by the test. The test plays the person: it reads the code the CLI prints and approves (or
// refuses) it at the provider, as they would at its verification page.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { startTestApi, type TestApi } from '../support/api.ts';
import { runCli, type CliRun } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { startLoopbackIdentityProvider, type LoopbackIdentityProvider } from '../support/identity-provider.ts';
import { loopbackPolicy } from '../support/outbound.ts';

const ROLES = {
  engineers: { scopes: ['feature_flag:manage', 'feature_flag:evaluate'] },
  'flag-admins': { scopes: ['feature_flag:admin'] },
};
const ALICE = { sub: 'alice@example.com', name: 'Alice Liddell', groups: ['engineers'] };
const USER_CODE = /enter the code ([A-Z]{4}-[A-Z]{4})/;

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

describe('flagship login through the identity provider (device flow)', () => {
  let idp: LoopbackIdentityProvider;
  let api: TestApi;
  let config: string;

  const cli = (args: string[], options: { onStderr?: (soFar: string) => void } = {}) => runCli(args, { env: { FLAGSHIP_CONFIG: config }, ...options });

  /** `flagship login` while the person answers at the provider once the code is on their screen. */
  async function login(answer: (userCode: string) => void): Promise<CliRun> {
    let answered = false;
    return cli(['login', '--url', api.baseUrl], {
      onStderr: (soFar) => {
        const code = USER_CODE.exec(soFar)?.[1];
        if (code && !answered) {
          answered = true;
          answer(code);
        }
      },
    });
  }

  /** The device-code polls the provider answered since `since` (an index into its log). */
  const pollsSince = (since: number) => idp.tokenRequests.slice(since).filter((request) => request.grantType === DEVICE_GRANT);
  const profileFile = () => parse(readFileSync(config, 'utf8'));

  beforeAll(async () => {
    idp = await startLoopbackIdentityProvider();
    api = await startTestApi({}, { identityProvider: idp.config(ROLES, {}, { cliClientId: 'flagship-cli' }), outboundPolicy: loopbackPolicy });
    const created = await api.request('POST', '/v1/flags', { body: { key: 'device-flow-flag', type: 'boolean', defaultValue: false } });
    if (created.status !== 201) throw new Error(`creating the flag: ${created.status} ${JSON.stringify(created.body)}`);
  });
  afterAll(async () => {
    await api?.close();
    await idp?.close();
  });

  beforeEach(() => {
    config = join(mkdtempSync(join(tmpdir(), 'flagship-login-')), 'config.yaml');
    idp.pollIntervalSeconds = 1;
    idp.deviceCodeLifetimeSeconds = 600;
    idp.slowDownPolls = 0;
  });

  it('tells clients, without a token, whether and how to sign in', async () => {
    const answer = await api.request('GET', '/v1/auth/config', { token: null });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      identityProvider: {
        issuer: idp.issuer,
        audience: idp.audience,
        scopes: 'openid profile email',
        authorizationEndpoint: `${idp.issuer}/authorize`,
        tokenEndpoint: `${idp.issuer}/token`,
        deviceAuthorizationEndpoint: `${idp.issuer}/device/code`,
        cli: { clientId: 'flagship-cli' },
        console: null,
      },
    });
  });

  it('answers without asking the provider again where no sign-in client needs its endpoints (a pinned JWKS)', async () => {
    const before = idp.jwksFetches;
    const pinned = await startTestApi({}, { db: api.db, adminToken: api.adminToken, identityProvider: { ...idp.config(ROLES), jwksUrl: `${idp.issuer}/jwks` }, outboundPolicy: loopbackPolicy });
    try {
      // The keys fetched once at start, in the background.
      await eventually(() => idp.jwksFetches, (fetches) => fetches === before + 1, 10_000);
      for (let index = 0; index < 5; index += 1) {
        const answer = await pinned.request('GET', '/v1/auth/config', { token: null });
        expect(answer.body.identityProvider).toMatchObject({ issuer: idp.issuer, cli: null, console: null, tokenEndpoint: null });
      }
      // Each answer was awaited, and a fetch it caused would have been awaited within it.
      expect(idp.jwksFetches).toBe(before + 1);
    } finally {
      await pinned.close();
    }
  });

  it('signs in as the person who approves the code; commands then run as them, with their groups\' scopes', async () => {
    const since = idp.tokenRequests.length;
    const run = await login((code) => idp.approveUserCode(code, ALICE));
    expect(run.stderr).toMatch(new RegExp(`open ${idp.issuer}/device and enter the code [A-Z]{4}-[A-Z]{4}`));
    expect(run.stderr).toContain('Logged in to');
    expect(run.stderr).toContain('as Alice Liddell (alice@example.com) through the identity provider');
    expect(run.code).toBe(0);
    expect(pollsSince(since).every((poll) => poll.clientId === 'flagship-cli')).toBe(true);

    // Stored for its owner only, with what it takes to refresh the token.
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const stored = profileFile().profiles.default;
    expect(stored.token).toMatch(/^eyJ/);
    expect(stored.refresh).toMatchObject({ tokenEndpoint: `${idp.issuer}/token`, clientId: 'flagship-cli' });
    expect(Date.parse(stored.tokenExpiresAt)).toBeGreaterThan(Date.now());

    const listed = await cli(['flags', 'ls', '-o', 'json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).map((flag: { key: string }) => flag.key)).toContain('device-flow-flag');
    const created = await cli(['flags', 'create', 'made-by-alice', '--type', 'boolean', '--default', 'false']);
    expect(created.code).toBe(0);
    const [entry] = (await api.request('GET', '/v1/audit?entityType=flag&entityKey=made-by-alice')).body.items;
    expect(entry).toMatchObject({ actor: 'alice@example.com', actorName: 'Alice Liddell', tokenId: 'jwt:alice@example.com' });
    // engineers hold manage, not admin: tokens are an admin's.
    const tokens = await cli(['tokens', 'ls']);
    expect(tokens.code).toBe(5);
    expect(tokens.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^flagship: permission_denied: /)]);
  });

  it('refreshes an expired token with the refresh token, and stores the new one', async () => {
    expect((await login((code) => idp.approveUserCode(code, ALICE))).code).toBe(0);
    const before = profileFile();
    // The token's hour has passed, as far as the CLI knows.
    before.profiles.default.tokenExpiresAt = new Date(Date.now() - 60_000).toISOString();
    writeFileSync(config, stringify(before), { mode: 0o600 });
    const since = idp.tokenRequests.length;

    const listed = await cli(['flags', 'ls', '-o', 'json']);
    expect(listed.code).toBe(0);
    expect(idp.tokenRequests.slice(since).map((request) => [request.grantType, request.error])).toEqual([['refresh_token', undefined]]);
    const after = profileFile().profiles.default;
    expect(after.token).not.toBe(before.profiles.default.token);
    expect(after.refresh.refreshToken).not.toBe(before.profiles.default.refresh.refreshToken);
    expect(Date.parse(after.tokenExpiresAt)).toBeGreaterThan(Date.now());
  });

  it('exits 5 with one line when the person refuses, and stores nothing', async () => {
    const run = await login((code) => idp.denyUserCode(code));
    expect(run.code).toBe(5);
    expect(run.stderr.trim().split('\n').filter((line) => line.startsWith('flagship:'))).toEqual(['flagship: the sign-in was refused at the identity provider; nothing was stored']);
    expect(run.stderr.trim().split('\n').at(-1)).toMatch(/^flagship: /);
    expect(() => statSync(config)).toThrow(/ENOENT/);
  });

  it('exits 5 with one line when nobody approves before the code expires', async () => {
    idp.deviceCodeLifetimeSeconds = 2;
    const since = idp.tokenRequests.length;
    const run = await login(() => undefined);
    expect(run.code).toBe(5);
    expect(run.stderr.trim().split('\n').at(-1)).toBe('flagship: the sign-in code expired before it was approved; run flagship login again');
    expect(pollsSince(since).map((poll) => poll.error)).toContain('expired_token');
  });

  it('polls at the provider\'s interval, and 5 s slower for good after slow_down', async () => {
    idp.slowDownPolls = 1;
    const since = idp.tokenRequests.length;
    // The person approves only after the second poll, so the third is the one that gets the tokens.
    let userCode = '';
    const running = login((code) => (userCode = code));
    await eventually(() => pollsSince(since).length, (count) => count >= 2, 20_000, 50);
    idp.approveUserCode(userCode, ALICE);
    const run = await running;
    expect(run.code).toBe(0);
    const polls = pollsSince(since);
    expect(polls.map((poll) => poll.error)).toEqual(['slow_down', 'authorization_pending', undefined]);
    // interval 1 s, then 1 + 5 s for this and every later poll (RFC 8628 §3.5).
    expect(polls[1]!.at - polls[0]!.at).toBeGreaterThanOrEqual(5_900);
    expect(polls[2]!.at - polls[1]!.at).toBeGreaterThanOrEqual(5_900);
  }, 30_000);

  it('refuses --device where the service offers no provider sign-in, and --token still logs in with a token', async () => {
    const plain = await startTestApi({}, {});
    try {
      expect((await plain.request('GET', '/v1/auth/config', { token: null })).body).toEqual({ identityProvider: null });
      const forced = await cli(['login', '--url', plain.baseUrl, '--device']);
      expect(forced.code).toBe(2);
      expect(forced.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^flagship: the service at .* offers no identity provider sign-in for the CLI/)]);
      const withToken = await cli(['login', '--url', api.baseUrl, '--token', api.adminToken]);
      expect(withToken.code).toBe(0);
      expect(profileFile().profiles.default).toEqual({ url: api.baseUrl, token: api.adminToken });
    } finally {
      await plain.close();
    }
  });
});
