// Bearer JWTs from the company's identity provider, against a real OpenID provider the test serves on
// loopback with keys it generates: valid, expired, wrong issuer, audience or signature, `alg: none`,
// key rotation and its rate limit, claims mapped to scopes and project limits, the person named in
// the audit log, the JWKS fetched under the outbound policy, and nothing changed without a provider.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UnsecuredJWT } from 'jose';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { newSigningKey, startLoopbackIdentityProvider, type LoopbackIdentityProvider } from '../support/identity-provider.ts';
import { loopbackPolicy, publicOnlyPolicy } from '../support/outbound.ts';

const ROLES = {
  'flag-admins': { scopes: ['feature_flag:admin'] },
  'checkout-team': { scopes: ['feature_flag:manage', 'feature_flag:evaluate'], projects: ['checkout'] },
  'release-bots': { scopes: ['feature_flag:manage', 'feature_flag:approve'], kind: 'service' },
};

describe('identities from the company\'s identity provider (JWT)', () => {
  let idp: LoopbackIdentityProvider;
  let api: TestApi;

  const as = (jwt: string, method: string, path: string, body?: unknown) => api.request(method, path, { token: jwt, ...(body === undefined ? {} : { body }) });
  const alice = () => idp.sign({ sub: 'alice@example.com', name: 'Alice Liddell', groups: ['flag-admins'] });

  beforeAll(async () => {
    idp = await startLoopbackIdentityProvider();
    api = await startTestApi({}, { identityProvider: idp.config(ROLES), outboundPolicy: loopbackPolicy });
    await api.request('POST', '/v1/flags', { body: { key: 'jwt-flag', type: 'boolean', defaultValue: true } });
  });
  afterAll(async () => {
    await api.close();
    await idp.close();
  });

  it('accepts a valid JWT, and the audit entry names the person, not a token', async () => {
    const jwt = await alice();
    const created = await as(jwt, 'POST', '/v1/segments', { key: 'by-alice', name: 'Alice\'s', conditions: [] });
    expect(created.status).toBe(201);
    expect(created.body.createdBy).toBe('alice@example.com');
    const [entry] = (await api.request('GET', '/v1/audit?entityType=segment&entityKey=by-alice')).body.items;
    expect(entry).toMatchObject({ action: 'segment.created', actor: 'alice@example.com', actorName: 'Alice Liddell', tokenId: 'jwt:alice@example.com' });
  });

  it.each([
    ['expired', async () => idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'] }, { expiresAt: Math.floor(Date.now() / 1_000) - 120 }), /expired/],
    ['from another issuer', async () => idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'] }, { issuer: 'https://evil.example.com' }), /"iss" claim/],
    ['for another audience', async () => idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'] }, { audience: 'another-app' }), /"aud" claim/],
    ['signed with a key the provider does not publish, under a published key id', async () => {
      const forged = await newSigningKey(idp.published[0]!.kid);
      return idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'] }, { key: forged });
    }, /signature does not verify/],
    ['unsigned (alg: none)', async () => new UnsecuredJWT({ sub: 'alice@example.com', groups: ['flag-admins'] }).setIssuer(idp.issuer).setAudience(idp.audience).setExpirationTime('1h').encode(), /algorithm is not accepted|not acceptable/],
    ['with a tampered payload', async () => {
      const [header, , signature] = (await alice()).split('.');
      const payload = Buffer.from(JSON.stringify({ sub: 'mallory', groups: ['flag-admins'], iss: idp.issuer, aud: idp.audience, exp: 9_999_999_999 })).toString('base64url');
      return `${header}.${payload}.${signature}`;
    }, /signature does not verify/],
    ['that is not one (a JWT\'s prefix, then garbage)', async () => 'eyJhbGciOiJSUzI1NiJ9.%%%.x', /malformed/],
    ['whose header is not JSON', async () => `eyJ${Buffer.from('not json').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.sig`, /not acceptable|malformed|could not be verified/],
    ['larger than any honest one (10 KB)', async () => `eyJ${'A'.repeat(10_000)}.e30.sig`, /malformed/],
  ])('refuses a JWT %s with unauthenticated', async (_what, make, message) => {
    const response = await as(await make(), 'GET', '/v1/flags');
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthenticated');
    expect(response.body.error.message).toMatch(message);
  });

  it('maps groups to scopes and project limits; a person without a mapped group holds no scope', async () => {
    const bea = await idp.sign({ sub: 'bea', email: 'bea@example.com', groups: ['checkout-team', 'unrelated'] });
    expect((await as(bea, 'GET', '/v1/flags')).status).toBe(200);
    const inProject = await as(bea, 'POST', '/v1/evaluate', { flagKey: 'jwt-flag', context: { userId: 'u1', projectId: 'checkout' } });
    expect(inProject.status).toBe(200);
    const elsewhere = await as(bea, 'POST', '/v1/evaluate', { flagKey: 'jwt-flag', context: { userId: 'u1', projectId: 'billing' } });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.error.message).toMatch(/may evaluate only for projects checkout/);
    expect((await as(bea, 'GET', '/v1/tokens')).status).toBe(403);

    const nobody = await idp.sign({ sub: 'carl', groups: ['unrelated'] });
    const refused = await as(nobody, 'GET', '/v1/flags');
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('permission_denied');
  });

  it('takes a group claim at a nested path, a single role as a string, and the e-mail as the identity when configured so', async () => {
    const other = await startTestApi({}, {
      db: api.db,
      adminToken: api.adminToken,
      identityProvider: idp.config(ROLES, { identityClaim: 'email', groupsClaim: 'realm_access.roles' }),
      outboundPolicy: loopbackPolicy,
    });
    try {
      const jwt = await idp.sign({ sub: '00u1f2', email: 'Dana@Example.com', email_verified: true, realm_access: { roles: 'flag-admins' } });
      const created = await other.request('POST', '/v1/segments', { token: jwt, body: { key: 'by-dana', name: 'Dana\'s', conditions: [] } });
      expect(created.status).toBe(201);
      expect(created.body.createdBy).toBe('Dana@Example.com');
      const unverified = await idp.sign({ sub: '00u1f3', email: 'erin@example.com', email_verified: false, realm_access: { roles: ['flag-admins'] } });
      expect((await other.request('GET', '/v1/flags', { token: unverified })).body.error).toMatchObject({ code: 'unauthenticated', message: expect.stringMatching(/not verified/) });
    } finally {
      await other.close();
    }
  });

  it('follows a key rotation by fetching the JWKS again for an unknown key id, at most once per cooldown; seen tokens never fetch', async () => {
    const known = await alice();
    expect((await as(known, 'GET', '/v1/flags')).status).toBe(200);
    const before = idp.jwksFetches;
    for (let repeat = 0; repeat < 5; repeat += 1) expect((await as(known, 'GET', '/v1/flags')).status).toBe(200);
    expect(idp.jwksFetches).toBe(before);

    const rotated = await newSigningKey('key-2');
    idp.published = [idp.published[0]!, rotated];
    const signedWithNewKey = await idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'] }, { key: rotated });
    expect((await as(signedWithNewKey, 'GET', '/v1/flags')).status).toBe(200);
    expect(idp.jwksFetches).toBe(before + 1);

    // Made-up key ids within the cooldown: refused without asking the provider again.
    for (const kid of ['made-up-1', 'made-up-2', 'made-up-3']) {
      const unknown = await idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'] }, { key: await newSigningKey(kid) });
      const response = await as(unknown, 'GET', '/v1/flags');
      expect(response.status).toBe(401);
      expect(response.body.error.message).toMatch(/key the identity provider does not publish/);
    }
    expect(idp.jwksFetches).toBe(before + 1);
  });

  it('tolerates a provider clock a little ahead for nbf, not a token that is not yet valid by more', async () => {
    const now = Math.floor(Date.now() / 1_000);
    expect((await as(await idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'], nbf: now + 10 }), 'GET', '/v1/flags')).status).toBe(200);
    const early = await as(await idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'], nbf: now + 600 }), 'GET', '/v1/flags');
    expect(early.status).toBe(401);
    expect(early.body.error.message).toMatch(/"nbf" claim/);
  });

  it('trusts a verified JWT from memory no longer than its exp', async () => {
    const shortLived = await idp.sign({ sub: 'alice@example.com', groups: ['flag-admins'] }, { expiresAt: Math.floor(Date.now() / 1_000) + 2 });
    expect((await as(shortLived, 'GET', '/v1/flags')).status).toBe(200);
    const { value } = await eventually(() => as(shortLived, 'GET', '/v1/flags'), (response) => response.status !== 200, 5_000, 100);
    expect(value.status).toBe(401);
    expect(value.body.error.message).toMatch(/expired/);
  });

  it('a JWT of a service group never approves, even holding feature_flag:approve', async () => {
    const bot = await idp.sign({ sub: 'release-bot', groups: ['release-bots'] });
    expect((await as(bot, 'GET', '/v1/flags')).status).toBe(200);
    const approval = await as(bot, 'POST', '/v1/changes/cr_none/approve', {});
    expect(approval.status).toBe(403);
    expect(approval.body.error.message).toMatch(/only a person may approve/);
  });

  it('fetches the keys through the outbound policy: a provider on loopback is refused under the public-only policy', async () => {
    const strict = await startTestApi({}, { db: api.db, adminToken: api.adminToken, identityProvider: idp.config(ROLES), outboundPolicy: publicOnlyPolicy });
    try {
      const response = await strict.request('GET', '/v1/flags', { token: await alice() });
      expect(response.status).toBe(503);
      expect(response.body.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/refused by the outbound policy: 127\.0\.0\.1 is a loopback address/) });
    } finally {
      await strict.close();
    }
  });

  it('with the provider down from the start, JWTs are unavailable (503) and ask it once per few seconds, not once each; it recovers', async () => {
    const down = await startLoopbackIdentityProvider();
    down.failing = true;
    const waiting = await startTestApi({}, { db: api.db, adminToken: api.adminToken, identityProvider: down.config(ROLES), outboundPolicy: loopbackPolicy });
    try {
      const jwt = await down.sign({ sub: 'alice@example.com', groups: ['flag-admins'] });
      for (let attempt = 0; attempt < 10; attempt += 1) {
        const response = await waiting.request('GET', '/v1/flags', { token: jwt });
        expect(response.status).toBe(503);
        expect(response.body.error.message).toMatch(/signing keys could not be fetched: the JWKS answered 500/);
      }
      expect(down.jwksFetches).toBeLessThanOrEqual(3);
      expect((await waiting.request('GET', '/v1/flags')).status).toBe(200);
      down.failing = false;
      const { value } = await eventually(() => waiting.request('GET', '/v1/flags', { token: jwt }), (response) => response.status === 200, 10_000, 250);
      expect(value.status).toBe(200);
    } finally {
      await waiting.close();
      await down.close();
    }
  });

  it('without an identity provider configured, a JWT is just an unknown token', async () => {
    const plain = await startTestApi({}, { db: api.db, adminToken: api.adminToken });
    try {
      const response = await plain.request('GET', '/v1/flags', { token: await alice() });
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('unauthenticated');
      expect((await plain.request('GET', '/v1/flags')).status).toBe(200);
    } finally {
      await plain.close();
    }
  });
});
