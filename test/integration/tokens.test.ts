// Tokens as an attacker holding one would try them: no lock-out (the last admin, revoking oneself, a
// revoked FLAGS_ADMIN_TOKEN), no escalation (minting or revoking beyond one's own scopes and
// projects, explaining for another project), no posing as the built-in admin, no reused names.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { startApi } from '../../src/api/start-api.ts';
import { SYSTEM_ACTOR } from '../../src/data/actor.ts';
import { generateTokenSecret, revokeToken, SCOPES } from '../../src/data/tokens.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { testLog } from '../support/logger.ts';
import { publicOnlyPolicy } from '../support/outbound.ts';
import { freePorts } from '../support/ports.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read response bodies field by field
type Json = any;

describe('tokens', () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await startTestApi();
  });
  afterEach(async () => {
    await api.close();
  });

  const mint = async (body: Json, token?: string): Promise<{ status: number; body: Json }> =>
    api.request('POST', '/v1/tokens', { body, ...(token ? { token } : {}) });
  const builtInAdmin = async (): Promise<Json> => (await api.request('GET', '/v1/tokens')).body.items.find((token: Json) => token.builtIn);

  it('belong to the built-in admin or to a named owner, who is the actor of what they do', async () => {
    expect(await builtInAdmin()).toMatchObject({ name: 'admin', owner: { id: 'admin', name: 'built-in admin', kind: 'service' }, scopes: [...SCOPES], projectIds: null });
    const missing = await mint({ name: 'no-owner', scopes: ['feature_flag:manage'] });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.issues).toEqual([expect.objectContaining({ path: 'owner' })]);
    const created = await mint({ name: 'ivy-laptop', owner: { id: 'ivy@example.com', name: 'Ivy' }, scopes: ['feature_flag:manage'] });
    expect(created.body.owner).toEqual({ id: 'ivy@example.com', name: 'Ivy', kind: 'person' });
    await api.request('POST', '/v1/segments', { token: created.body.token, body: { key: 'by-ivy', name: 'Ivy\'s', conditions: [] } });
    const [entry] = (await api.request('GET', '/v1/audit?entityType=segment&entityKey=by-ivy')).body.items;
    expect(entry).toMatchObject({ action: 'segment.created', actor: 'ivy@example.com', actorName: 'Ivy', tokenId: created.body.id });
  });

  it('cannot revoke themselves, nor the last admin token without a project limit', async () => {
    const admin = await builtInAdmin();
    const self = await api.request('DELETE', `/v1/tokens/${admin.id}`);
    expect(self.status).toBe(400);
    expect(self.body.error).toMatchObject({ code: 'validation_error', details: { reason: 'self' } });
    expect(self.body.error.message).toMatch(/a token cannot revoke itself/);

    // A second admin may revoke the built-in one; then it is the only unlimited admin left.
    const second = await mint({ name: 'hal-admin', owner: { id: 'hal@example.com' }, scopes: ['feature_flag:admin'] });
    expect((await api.request('DELETE', `/v1/tokens/${admin.id}`, { token: second.body.token })).status).toBe(200);
    expect((await api.request('GET', '/v1/tokens', { token: api.adminToken })).status).toBe(401);
    expect((await api.request('DELETE', `/v1/tokens/${second.body.id}`, { token: second.body.token })).status).toBe(400);
    // Through the API the two rules above already keep it; the data layer refuses any other caller too.
    await expect(revokeToken(api.db.pool, second.body.id, { actor: SYSTEM_ACTOR, authority: { scopes: new Set(SCOPES), projectIds: null } })).rejects.toMatchObject({
      code: 'validation_error',
      details: { reason: 'last_admin' },
      message: expect.stringMatching(/"hal-admin" is the last admin token without a project limit/),
    });
    expect((await api.request('GET', '/v1/tokens', { token: second.body.token })).status).toBe(200);
  });

  it('never reuse a name, not after revocation nor in another case, and nobody poses as the built-in admin or the service', async () => {
    const first = await mint({ name: 'ci-bot', owner: { id: 'ci', kind: 'service' }, scopes: ['feature_flag:manage'] });
    expect((await api.request('DELETE', `/v1/tokens/${first.body.id}`)).status).toBe(200);
    for (const name of ['ci-bot', 'CI-Bot', 'admin', 'Admin']) {
      const again = await mint({ name, owner: { id: 'ci', kind: 'service' }, scopes: ['feature_flag:manage'] });
      expect({ name, status: again.status, issues: again.body.error?.details?.issues }).toEqual({ name, status: 400, issues: [{ path: 'name', message: expect.any(String) }] });
    }
    for (const id of ['admin', 'ADMIN', 'system', 'temporal-ui', 'rollout:checkout', 'change:cr_1']) {
      const posing = await mint({ name: `as-${id.replace(/[^a-z]/gi, '')}-${id.length}`, owner: { id }, scopes: ['feature_flag:manage'] });
      expect({ id, status: posing.status, issues: posing.body.error?.details?.issues }).toEqual({ id, status: 400, issues: [{ path: 'owner.id', message: 'reserved' }] });
    }
  });

  it('mint and revoke only within their own scopes and projects', async () => {
    const limited = await mint({ name: 'jo-admin', owner: { id: 'jo@example.com' }, scopes: ['feature_flag:admin'], projectIds: ['p1', 'p2'] });
    const as = limited.body.token as string;
    const unlimited = await mint({ name: 'jo-unlimited', owner: { id: 'jo@example.com' }, scopes: ['feature_flag:evaluate'] }, as);
    expect(unlimited.status).toBe(403);
    expect(unlimited.body.error.message).toMatch(/limited to projects p1, p2 may mint only tokens limited to some of them, not one for every project/);
    const elsewhere = await mint({ name: 'jo-p3', owner: { id: 'jo@example.com' }, scopes: ['feature_flag:admin'], projectIds: ['p1', 'p3'] }, as);
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.error.message).toMatch(/not one for projects p3/);
    const within = await mint({ name: 'jo-p1', owner: { id: 'svc-p1', kind: 'service' }, scopes: ['feature_flag:evaluate'], projectIds: ['p1'] }, as);
    expect(within.status).toBe(201);

    const manager = await mint({ name: 'kim', owner: { id: 'kim@example.com' }, scopes: ['feature_flag:manage', 'feature_flag:admin'], projectIds: ['p1'] });
    // Revoking needs the same authority as minting: a limited admin cannot take back the unlimited one.
    expect((await api.request('DELETE', `/v1/tokens/${(await builtInAdmin()).id}`, { token: as })).status).toBe(403);
    expect((await api.request('DELETE', `/v1/tokens/${manager.body.id}`, { token: as })).status).toBe(200);
  });

  it('explain only for the projects a token is limited to, like every evaluating route', async () => {
    await api.request('POST', '/v1/flags', { body: { key: 'explained-per-project', type: 'boolean', defaultValue: false } });
    const limited = await mint({ name: 'lee', owner: { id: 'lee@example.com' }, scopes: ['feature_flag:manage', 'feature_flag:evaluate'], projectIds: ['p1'] });
    const explain = (projectId: string) => api.request('POST', '/v1/explain', { token: limited.body.token, body: { flagKey: 'explained-per-project', context: { projectId } } });
    expect((await explain('p1')).status).toBe(200);
    const other = await explain('p2');
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/may evaluate only for projects p1; context.projectId is "p2"/);
  });

  it('refuse to start with a revoked FLAGS_ADMIN_TOKEN and say how to recover; a new secret becomes the built-in token, audited', async () => {
    const start = async (adminToken: string) =>
      startApi({
        databaseUrl: api.db.url,
        db: api.db.pool,
        temporalAddress: requireEnv(ENV.temporalAddress),
        temporalNamespace: requireEnv(ENV.temporalNamespace),
        taskQueue: 'flags-test',
        dataDir: requireEnv(ENV.scratchDir),
        log: testLog,
        outboundPolicy: publicOnlyPolicy,
        host: '127.0.0.1',
        port: await freePorts(1),
        adminToken,
      });
    const second = await mint({ name: 'mo-admin', owner: { id: 'mo@example.com' }, scopes: ['feature_flag:admin'] });
    expect((await api.request('DELETE', `/v1/tokens/${(await builtInAdmin()).id}`, { token: second.body.token })).status).toBe(200);

    // Before, this was a unique-constraint violation that only a new secret got past, unexplained.
    await expect(start(api.adminToken)).rejects.toThrow(
      /FLAGS_ADMIN_TOKEN is the secret of the built-in admin token "admin", revoked at \S+ by mo@example.com, and a revoked secret never works again: set FLAGS_ADMIN_TOKEN to a new secret/,
    );

    const fresh = generateTokenSecret();
    const running = await start(fresh);
    try {
      // Asked of the process that started with the new secret, which knows it at once: another process
      // learns of it with its next catch-up, and a fast start-up asked it before that.
      const listed = await fetch(`${running.url}/v1/tokens?includeRevoked=true`, { headers: { authorization: `Bearer ${fresh}` } });
      const tokens = ((await listed.json()) as { items: Json[] }).items;
      expect(tokens.filter((token) => token.builtIn).map((token) => ({ name: token.name, live: token.revokedAt === null }))).toEqual([
        { name: 'admin', live: false },
        { name: 'admin#2', live: true },
      ]);
      expect((await fetch(`${running.url}/v1/flags`, { headers: { authorization: `Bearer ${api.adminToken}` } })).status).toBe(401);
      expect((await fetch(`${running.url}/v1/flags`, { headers: { authorization: `Bearer ${fresh}` } })).status).toBe(200);
    } finally {
      await running.stop();
    }
    // A third secret replaces the second built-in token: revoked and created by the service, in the log.
    const rotated = await start(generateTokenSecret());
    await rotated.stop();
    const audit = (await api.request('GET', '/v1/audit?entityType=token&actor=system', { token: second.body.token })).body.items as Json[];
    expect(audit.map((entry) => [entry.action, entry.after.name, entry.tokenId]).reverse()).toEqual([
      ['token.created', 'admin', null],
      ['token.created', 'admin#2', null],
      ['token.revoked', 'admin#2', null],
      ['token.created', 'admin#3', null],
    ]);
  });
});
