import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type FlagsClient } from '@flagship/sdk';
import { startTestApi, type TestApi } from '../support/api.ts';
import { evaluationFiles, fallbackFor, loadConformanceIntoApi } from '../support/conformance.ts';

describe('the conformance vectors through the SDK', () => {
  let api: TestApi;
  let sdk: FlagsClient;
  const files = evaluationFiles();

  beforeAll(async () => {
    api = await startTestApi();
    await loadConformanceIntoApi(api, files);
    const token = (await api.request('POST', '/v1/tokens', { body: { name: 'conformance-sdk', owner: { id: 'conformance-sdk', kind: 'service' }, scopes: ['feature_flag:evaluate'] } })).body.token;
    const publicKey = (await api.request('GET', '/v1/snapshot/public-key', { token: null })).body.publicKeyPem;
    sdk = createClient({ url: api.baseUrl, token, publicKey, refreshIntervalMs: 0, logger: null });
    await sdk.waitUntilReady();
    expect(sdk.state().snapshotVersion).toBe(api.deps.flagSet.version);
  });
  afterAll(async () => {
    await sdk.close();
    await api.close();
  });

  it('answers every case as the HTTP API does and as the vectors expect', async () => {
    let count = 0;
    for (const file of files) {
      for (const testCase of file.cases) {
        const label = `${file.file}: ${testCase.name}`;
        const fallback = fallbackFor(testCase.expected);
        const local = sdk.evaluate(testCase.flagKey, testCase.context, fallback);
        const http = await api.request('POST', '/v1/evaluate', { body: { flagKey: testCase.flagKey, context: testCase.context } });
        if (testCase.expected === null) {
          expect({ label, status: http.status }).toEqual({ label, status: 404 });
          expect({ label, local }).toEqual({ label, local: { flagKey: testCase.flagKey, value: fallback, variant: null, reason: 'error', flagVersion: 0, errorCode: 'FLAG_NOT_FOUND', errorMessage: expect.any(String) } });
        } else {
          expect({ label, local }).toEqual({ label, local: http.body });
          expect({ label, local }).toEqual({ label, local: testCase.expected });
        }
        count += 1;
      }
    }
    expect(count).toBeGreaterThan(200);
  });

  it('bulk-evaluates the same answers as POST /v1/evaluate/bulk', async () => {
    const contexts = [{}, { userId: 'user-1' }, { userId: 'user-42', country: 'DE', plan: 'pro' }, { projectId: 'project-9' }];
    for (const context of contexts) {
      const local = sdk.evaluateAll(context);
      const http = await api.request('POST', '/v1/evaluate/bulk', { body: { context } });
      const byKey = (results: { flagKey: string }[]) => [...results].sort((a, b) => (a.flagKey < b.flagKey ? -1 : 1));
      expect(byKey(local.results)).toEqual(byKey(http.body.results));
      expect(local.snapshotVersion).toBe(http.body.flagSetVersion);
    }
  });
});
