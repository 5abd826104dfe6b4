// POST /v1/evaluate and OFREP single are served ahead of the routers (src/api/evaluation-fast-path.ts).
// What the routers gave them must still be there: the edge's headers, scopes, the route template in
// the HTTP metrics, zod's wording of a refused body, and the router's own decoding of a key the fast
// path leaves to it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api.ts';

describe('the evaluation fast path', () => {
  let api: TestApi;
  let manageOnly: string;
  beforeAll(async () => {
    api = await startTestApi();
    expect((await api.request('POST', '/v1/flags', { body: { key: 'dark-mode', type: 'boolean', defaultValue: true } })).status).toBe(201);
    const token = await api.request('POST', '/v1/tokens', { body: { name: 'manager', owner: { id: 'manager@example.com' }, scopes: ['feature_flag:manage'] } });
    manageOnly = token.body.token;
  });
  afterAll(() => api.close());

  it('answers as the router did: the edge headers, OFREP CORS, and the route template in the HTTP metrics', async () => {
    const evaluated = await api.request('POST', '/v1/evaluate', { body: { flagKey: 'dark-mode', context: { userId: 'u-1' } }, headers: { 'x-request-id': 'fast-1' } });
    expect(evaluated.status).toBe(200);
    expect(evaluated.body).toMatchObject({ flagKey: 'dark-mode', value: true, reason: 'default', flagVersion: 1 });
    expect(evaluated.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(evaluated.headers.get('x-request-id')).toBe('fast-1');
    expect(evaluated.headers.get('x-content-type-options')).toBe('nosniff');

    const ofrep = await api.request('POST', '/ofrep/v1/evaluate/flags/dark-mode', { body: { context: { targetingKey: 'u-1' } } });
    expect(ofrep.status).toBe(200);
    expect(ofrep.body).toEqual({ key: 'dark-mode', value: true, reason: 'DEFAULT', metadata: { flagSetId: 'flagship', version: '1', reason: 'default', flagVersion: 1 } });
    expect(ofrep.headers.get('access-control-allow-origin')).toBe('*');
    expect(ofrep.headers.get('x-frame-options')).toBe('DENY');

    const metrics = await api.request('GET', '/metrics');
    expect(metrics.status).toBe(200);
    const text = metrics.body as string;
    expect(text).toMatch(/flags_http_requests_total\{method="POST",route="\/v1\/evaluate",status="200"\} 1\n/);
    expect(text).toMatch(/flags_http_requests_total\{method="POST",route="\/ofrep\/v1\/evaluate\/flags\/:key",status="200"\} 1\n/);
  });

  it('leaves a percent-encoded key to the router, which decodes it', async () => {
    const encoded = await api.request('POST', '/ofrep/v1/evaluate/flags/dark%2Dmode', { body: { context: {} } });
    expect(encoded.status).toBe(200);
    expect(encoded.body.key).toBe('dark-mode');
  });

  it('keeps authentication, scopes and zod\'s errors for bodies the hand check declines', async () => {
    expect((await api.request('POST', '/v1/evaluate', { body: { flagKey: 'dark-mode', context: {} }, token: null })).status).toBe(401);
    const forbidden = await api.request('POST', '/ofrep/v1/evaluate/flags/dark-mode', { body: { context: {} }, token: manageOnly });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('permission_denied');

    const notAnObject = await api.request('POST', '/v1/evaluate', { body: { flagKey: 'dark-mode', context: ['u-1'] } });
    expect(notAnObject.status).toBe(400);
    expect(notAnObject.body.error).toMatchObject({ code: 'validation_error', details: { issues: [expect.objectContaining({ path: 'context' })] } });
    const unknownField = await api.request('POST', '/v1/evaluate', { body: { flagKey: 'dark-mode', contxt: {} } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.details.issues).toContainEqual({ path: 'contxt', message: 'is not a known field' });

    const badContext = await api.request('POST', '/ofrep/v1/evaluate/flags/dark-mode', { body: { context: 'u-1' } });
    expect(badContext.status).toBe(400);
    expect(badContext.body).toMatchObject({ key: 'dark-mode', errorCode: 'INVALID_CONTEXT' });
    const missing = await api.request('POST', '/ofrep/v1/evaluate/flags/no-such-flag', { body: { context: {} } });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ key: 'no-such-flag', errorCode: 'FLAG_NOT_FOUND' });
  });
});
