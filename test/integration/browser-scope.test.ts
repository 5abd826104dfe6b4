import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api.ts';

const APP_ORIGIN = 'https://app.example.com';

describe('a front-end token (feature_flag:browser)', () => {
  let api: TestApi;
  let browserToken: string;
  let signedToken: string;
  let contextSigningSecret: string;
  const sign = (targetingKey: string) => createHmac('sha256', contextSigningSecret).update(targetingKey).digest('hex');

  beforeAll(async () => {
    api = await startTestApi({}, { app: { ofrepCorsOrigins: [APP_ORIGIN] } });
    const flags = [
      { key: 'shop-banner', type: 'string', defaultValue: 'plain', tags: ['flagship:browser'], variants: { plain: 'plain', gold: 'gold' }, rules: [{ id: 'vip-rule', conditions: [{ attribute: 'plan', op: 'equals', value: 'vip' }, { attribute: 'email', op: 'ends_with', value: '@example.com' }], serve: { variant: 'gold' } }] },
      { key: 'internal-kill', type: 'boolean', defaultValue: true },
    ];
    for (const flag of flags) expect((await api.request('POST', '/v1/flags', { body: flag })).status).toBe(201);
    const created = await api.request('POST', '/v1/tokens', { body: { name: 'shop-web', owner: { id: 'shop-web', kind: 'service' }, scopes: ['feature_flag:browser'], projectIds: ['shop'] } });
    expect(created.status).toBe(201);
    browserToken = created.body.token;
    const signed = await api.request('POST', '/v1/tokens', { body: { name: 'shop-web-signed', owner: { id: 'shop-web', kind: 'service' }, scopes: ['feature_flag:browser'], projectIds: ['shop'], signedContext: true } });
    expect(signed.status).toBe(201);
    expect(signed.body).toMatchObject({ signedContext: true, contextSigningSecret: expect.stringMatching(/^ffc_/) });
    signedToken = signed.body.token;
    contextSigningSecret = signed.body.contextSigningSecret;
  });
  afterAll(() => api.close());

  const ofrep = (path: string, token: string, context: Record<string, unknown>, headers: Record<string, string> = {}) =>
    api.request('POST', `/ofrep/v1/evaluate/flags${path}`, { token, body: { context }, headers: { origin: APP_ORIGIN, ...headers } });

  it('is answered values and variants of the flags tagged for browsers, nothing of rules or other flags', async () => {
    const bulk = await ofrep('', browserToken, { targetingKey: 'v-1', projectId: 'shop', plan: 'vip', email: 'a@example.com' });
    expect(bulk.status).toBe(200);
    expect(bulk.body.flags).toEqual([{ key: 'shop-banner', value: 'gold', variant: 'gold' }]);
    expect(bulk.body.metadata).toEqual({ flagSetId: 'flagship' });
    expect(JSON.stringify(bulk.body)).not.toMatch(/vip-rule|internal-kill|TARGETING_MATCH|@example\.com/);
    const single = await ofrep('/shop-banner', browserToken, { targetingKey: 'v-1', projectId: 'shop' });
    // No rule matched: the default value, which has no variant, and no word of why.
    expect(single).toMatchObject({ status: 200, body: { key: 'shop-banner', value: 'plain' } });
    expect(Object.keys(single.body).sort()).toEqual(['key', 'value']);
    const internal = await ofrep('/internal-kill', browserToken, { targetingKey: 'v-1', projectId: 'shop' });
    expect(internal).toMatchObject({ status: 404, body: { errorCode: 'FLAG_NOT_FOUND' } });
    // A server token sees every flag, with its metadata, for the same context.
    const full = await ofrep('', api.adminToken, { targetingKey: 'v-1', projectId: 'shop', plan: 'vip', email: 'a@example.com' });
    expect(full.body.flags.map((flag: { key: string }) => flag.key).sort()).toEqual(['internal-kill', 'shop-banner']);
    expect(full.body.flags.find((flag: { key: string }) => flag.key === 'shop-banner').metadata).toMatchObject({ ruleId: 'vip-rule' });
  });

  it('cannot evaluate for another project, nor read the snapshot, rules, segments, audit, events or other routes', async () => {
    expect((await ofrep('', browserToken, { targetingKey: 'v-1', projectId: 'payroll' })).status).toBe(403);
    expect((await ofrep('/shop-banner', browserToken, { targetingKey: 'v-1' })).status).toBe(403);
    const refused: [string, string, unknown?][] = [
      ['GET', '/v1/snapshot'],
      ['GET', '/v1/flags'],
      ['GET', '/v1/flags/shop-banner'],
      ['GET', '/v1/segments'],
      ['GET', '/v1/audit'],
      ['GET', '/v1/events'],
      ['GET', '/v1/tokens'],
      ['POST', '/v1/evaluate', { flagKey: 'shop-banner', context: { projectId: 'shop' } }],
      ['POST', '/v1/evaluate/bulk', { context: { projectId: 'shop' } }],
      ['POST', '/v1/explain', { flagKey: 'shop-banner', context: { projectId: 'shop' } }],
      ['POST', '/v1/exposures', { exposures: [] }],
    ];
    for (const [method, path, body] of refused) {
      const answer = await api.request(method, path, { token: browserToken, ...(body === undefined ? {} : { body }) });
      expect({ path, status: answer.status, code: answer.body?.error?.code }).toEqual({ path, status: 403, code: 'permission_denied' });
    }
  });

  it('cannot be combined with another scope, nor be unlimited in projects', async () => {
    const mixed = await api.request('POST', '/v1/tokens', { body: { name: 'mixed', owner: { id: 'x' }, scopes: ['feature_flag:browser', 'feature_flag:evaluate'], projectIds: ['shop'] } });
    expect(mixed).toMatchObject({ status: 400, body: { error: { code: 'validation_error' } } });
    const unlimited = await api.request('POST', '/v1/tokens', { body: { name: 'unlimited', owner: { id: 'x' }, scopes: ['feature_flag:browser'] } });
    expect(unlimited).toMatchObject({ status: 400, body: { error: { code: 'validation_error' } } });
  });

  it('gives CORS headers to the allowed origin only', async () => {
    const allowed = await ofrep('', browserToken, { targetingKey: 'v-1', projectId: 'shop' });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(allowed.headers.get('access-control-expose-headers')).toBe('ETag');
    const foreign = await ofrep('', browserToken, { targetingKey: 'v-1', projectId: 'shop' }, { origin: 'https://evil.example' });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect(foreign.headers.get('access-control-expose-headers')).toBeNull();
    for (const origin of [APP_ORIGIN, 'https://evil.example']) {
      const preflight = await fetch(`${api.baseUrl}/ofrep/v1/evaluate/flags`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin === APP_ORIGIN ? APP_ORIGIN : null);
      expect(preflight.headers.get('access-control-allow-headers')).toBe(origin === APP_ORIGIN ? 'Authorization, Content-Type, If-None-Match' : null);
    }
  });

  it('with signedContext, evaluates a context whose targetingKey is signed and refuses a forged or missing signature', async () => {
    const context = { targetingKey: 'customer-42', projectId: 'shop', plan: 'vip', email: 'c@example.com' };
    const genuine = await ofrep('', signedToken, { ...context, targetingKeySignature: sign('customer-42') });
    expect(genuine.status).toBe(200);
    expect(genuine.body.flags).toEqual([{ key: 'shop-banner', value: 'gold', variant: 'gold' }]);
    // Another user's key with this user's signature, a made-up signature, none at all, a userId beside the signed key.
    const forged = [
      { ...context, targetingKey: 'customer-43', targetingKeySignature: sign('customer-42') },
      { ...context, targetingKeySignature: createHmac('sha256', 'guessed').update('customer-42').digest('hex') },
      { ...context, targetingKeySignature: 'not hex' },
      context,
      { ...context, userId: 'customer-43', targetingKeySignature: sign('customer-42') },
    ];
    for (const forgedContext of forged) {
      for (const path of ['', '/shop-banner']) {
        const answer = await ofrep(path, signedToken, forgedContext);
        expect({ path, status: answer.status, code: answer.body?.error?.code }).toEqual({ path, status: 403, code: 'permission_denied' });
      }
    }
    // The unsigned token is unaffected by signatures.
    expect((await ofrep('', browserToken, context)).status).toBe(200);
  });
});
