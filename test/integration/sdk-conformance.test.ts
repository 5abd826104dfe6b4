import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from '../../src/data/sql.ts';
import { appendEvent, inWriteTransaction } from '../../src/data/write-transaction.ts';
import { createClient, type FlagValue, type FlagsClient } from '../../src/sdk/index.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { evaluationFiles } from '../support/conformance.ts';

/** A fallback of the served value's type, so a found flag never answers TYPE_MISMATCH. */
function fallbackFor(expected: Record<string, unknown> | null): FlagValue {
  const value = expected?.value;
  if (typeof value === 'boolean') return !value;
  if (typeof value === 'number') return -1;
  if (typeof value === 'string') return '<fallback>';
  if (Array.isArray(value)) return ['<fallback>'];
  return { fallback: true };
}

describe('the conformance vectors through the SDK', () => {
  let api: TestApi;
  let sdk: FlagsClient;
  const files = evaluationFiles();

  beforeAll(async () => {
    api = await startTestApi();
    // The same set-up as the HTTP API's conformance run: everything through the API, archived
    // prerequisites and engaged killswitches forced underneath where the API would refuse them.
    for (const file of files) {
      for (const segment of file.segments) {
        const created = await api.request('POST', '/v1/segments', { body: segment });
        if (created.status !== 201) throw new Error(`${file.file}: segment refused: ${JSON.stringify(created.body)}`);
      }
      for (const flag of file.flags) {
        const created = await api.request('POST', '/v1/flags', { body: flag });
        if (created.status !== 201) throw new Error(`${file.file}: flag ${flag.key} refused: ${JSON.stringify(created.body)}`);
      }
    }
    for (const file of files) {
      for (const key of file.archived ?? []) {
        const archived = await api.request('POST', `/v1/flags/${key}/archive`);
        if (archived.status === 200) continue;
        await inWriteTransaction(api.db.pool, async (tx) => {
          await tx.query(sql.typeAlias('void')`UPDATE flags SET state = 'archived', version = version + 1 WHERE key = ${key}`);
          await appendEvent(tx, { type: 'flag.archived', entityKey: key, payload: {} });
        });
      }
      for (const category of file.killswitches ?? []) {
        await inWriteTransaction(api.db.pool, async (tx) => {
          await tx.query(sql.typeAlias('void')`INSERT INTO killswitches (category, engaged, updated_by) VALUES (${category}, true, 'conformance')`);
          await appendEvent(tx, { type: 'killswitch.engaged', entityKey: category, payload: {} });
        });
      }
    }
    await api.deps.flagSet.refresh();
    const token = (await api.request('POST', '/v1/tokens', { body: { name: 'conformance-sdk', scopes: ['feature_flag:evaluate'] } })).body.token;
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
