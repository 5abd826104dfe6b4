import { createPublicKey, verify } from 'node:crypto';
import { get, type IncomingHttpHeaders } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from '../../src/data/sql.ts';
import { appendEvent, inWriteTransaction } from '../../src/data/write-transaction.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { evaluationFiles, loadConformanceIntoApi } from '../support/conformance.ts';

/** A GET that hands back the bytes as sent (fetch would decompress them). */
function rawGet(url: string, headers: Record<string, string>): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}


describe('evaluation over HTTP', () => {
  let api: TestApi;
  let second: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
    // A second API process on the same database: its own pool, LISTEN feed and compiled set.
    second = await startTestApi({}, { db: api.db, adminToken: api.adminToken });
  });
  afterAll(async () => {
    await second.close();
    await api.close();
  });

  const evaluate = (target: TestApi, flagKey: string, context: Record<string, unknown> = {}, token?: string) =>
    target.request('POST', '/v1/evaluate', { body: { flagKey, context }, ...(token ? { token } : {}) });

  it('sees a write at once on the writing process and within a second on another', async () => {
    await api.request('POST', '/v1/flags', { body: { key: 'fresh', type: 'string', defaultValue: 'one' } });
    expect((await evaluate(api, 'fresh')).body).toMatchObject({ value: 'one', flagVersion: 1, reason: 'default' });
    await eventually(() => evaluate(second, 'fresh'), (response) => response.status === 200, 1_000);

    await api.request('PATCH', '/v1/flags/fresh', { body: { defaultValue: 'two', version: 1 } });
    const local = await evaluate(api, 'fresh');
    expect(local.body).toMatchObject({ value: 'two', flagVersion: 2 });
    const remote = await eventually(() => evaluate(second, 'fresh'), (response) => response.body.flagVersion === 2, 1_000);
    expect(remote.value.body.value).toBe('two');

    await api.request('POST', '/v1/flags/fresh/archive');
    expect((await evaluate(api, 'fresh')).status).toBe(404);
    await eventually(() => evaluate(second, 'fresh'), (response) => response.status === 404, 1_000);
  });

  it('catches a change whose notification was lost through the periodic version check', async () => {
    await api.request('POST', '/v1/flags', { body: { key: 'quiet-change', type: 'number', defaultValue: 1 } });
    await eventually(() => evaluate(second, 'quiet-change'), (response) => response.status === 200, 1_000);
    // The same rows a write commits, but no NOTIFY: only the periodic check can find it.
    await inWriteTransaction(api.db.pool, async (tx) => {
      await tx.query(sql.typeAlias('void')`
        UPDATE flags SET version = 2, definition = jsonb_set(definition, '{defaultValue}', '7') WHERE key = 'quiet-change'`);
      await tx.query(sql.typeAlias('void')`INSERT INTO outbox (type, entity_key, payload) VALUES ('flag.updated', 'quiet-change', '{}')`);
    });
    const seen = await eventually(() => evaluate(second, 'quiet-change'), (response) => response.body.value === 7, 3_000);
    expect(seen.value.body.flagVersion).toBe(2);
  });

  it('applies a killswitch event: its flags answer off', async () => {
    await api.request('POST', '/v1/flags', { body: { key: 'killable', type: 'boolean', defaultValue: true, offValue: false, killswitch: 'payments' } });
    await inWriteTransaction(api.db.pool, async (tx) => {
      await tx.query(sql.typeAlias('void')`INSERT INTO killswitches (category, engaged, updated_by) VALUES ('payments', true, 'test')`);
      await appendEvent(tx, { type: 'killswitch.engaged', entityKey: 'payments', payload: {} });
    });
    const off = await eventually(() => evaluate(second, 'killable'), (response) => response.body.reason === 'off', 1_500);
    expect(off.value.body.value).toBe(false);
  });

  it('bulk-evaluates every active flag, or the keys asked for, and names unknown keys', async () => {
    const all = await api.request('POST', '/v1/evaluate/bulk', { body: { context: { userId: 'u1' } } });
    expect(all.status).toBe(200);
    expect(all.body.results.map((result: { flagKey: string }) => result.flagKey)).toEqual(expect.arrayContaining(['quiet-change', 'killable']));
    const some = await api.request('POST', '/v1/evaluate/bulk', { body: { context: {}, flagKeys: ['killable', 'nope'] } });
    expect(some.body.results.map((result: { flagKey: string }) => result.flagKey)).toEqual(['killable']);
    expect(some.body.missing).toEqual(['nope']);
  });

  it('refuses a project-restricted token for another project, and serves its own', async () => {
    const created = await api.request('POST', '/v1/tokens', { body: { name: 'svc-p1', owner: { id: 'svc-p1', kind: 'service' }, scopes: ['feature_flag:evaluate'], projectIds: ['p1'] } });
    const token: string = created.body.token;
    await api.request('POST', '/v1/flags', { body: { key: 'per-project', type: 'boolean', defaultValue: false } });
    expect((await evaluate(api, 'per-project', { projectId: 'p1' }, token)).status).toBe(200);
    const other = await evaluate(api, 'per-project', { projectId: 'p2' }, token);
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe('permission_denied');
    expect((await evaluate(api, 'per-project', {}, token)).status).toBe(403);
    const bulk = await api.request('POST', '/v1/evaluate/bulk', { body: { context: { projectId: 'p2' } }, token });
    expect(bulk.status).toBe(403);
    // A snapshot answers for every project, so it is not for a token limited to some.
    expect((await api.request('GET', '/v1/snapshot', { token })).status).toBe(403);
  });

  it('refuses a context over its limits with validation_error on every evaluating route, and serves one at them', async () => {
    // The bulk route takes no flagKey (and refuses fields it does not know): each route gets its own body.
    const routes = ['/v1/evaluate', '/v1/evaluate/bulk', '/v1/explain'];
    const head = (path: string) => (path === '/v1/evaluate/bulk' ? '{' : '{"flagKey":"killable",');
    const bodyWith = (path: string, contextJson: string) => `${head(path)}"context":${contextJson}}`;
    const nested = (levels: number) => `{"userId":"u","nested":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;
    const oversized = [
      { what: 'a megabyte of text', context: JSON.stringify({ userId: 'u', blob: 'x'.repeat(1_000_000) }), issue: /the context is too large: .*more than 32768 characters/ },
      { what: '11 levels of nesting', context: nested(10), issue: /the context is too large: it nests deeper than 10 levels/ },
      // Refused before the context is even looked at: no JSON body may nest deeper than 64.
      { what: '10,000 levels of nesting', context: nested(10_000), issue: /nested deeper than/ },
      { what: '501 attributes', context: JSON.stringify(Object.fromEntries(Array.from({ length: 501 }, (_, index) => [`a${index}`, index]))), issue: /the context is too large: .*more than 500 attributes/ },
    ];
    for (const { what, context, issue } of oversized) {
      for (const path of routes) {
        const answer = await api.request('POST', path, { body: bodyWith(path, context) });
        expect({ what, path, status: answer.status, code: answer.body.error?.code }).toEqual({ what, path, status: 400, code: 'validation_error' });
        expect(answer.body.error.message).toMatch(issue);
      }
    }
    let atTheLimit: unknown = 'leaf';
    for (let level = 1; level < 10; level += 1) atTheLimit = { level: atTheLimit };
    const fits = JSON.stringify({ userId: 'u', nested: atTheLimit, text: 'y'.repeat(30_000), list: Array.from({ length: 400 }, (_, index) => index) });
    for (const path of routes) expect({ path, status: (await api.request('POST', path, { body: bodyWith(path, fits) })).status }).toEqual({ path, status: 200 });
  });

  it('explains an evaluation step by step', async () => {
    await api.request('POST', '/v1/flags', {
      body: { key: 'explained', type: 'boolean', defaultValue: false, rules: [{ id: 'de', conditions: [{ attribute: 'country', op: 'equals', value: 'DE' }], serve: { value: true } }], rollout: { percentage: 10 } },
    });
    const explanation = await api.request('POST', '/v1/explain', { body: { flagKey: 'explained', context: { userId: 'u-1', country: 'FR' } } });
    expect(explanation.status).toBe(200);
    expect(explanation.body.result).toMatchObject({ flagKey: 'explained', reason: 'percentage' });
    expect(JSON.stringify(explanation.body.steps)).toContain('country');
  });

  describe('the signed snapshot', () => {
    it('verifies with the public key, answers 304 to its ETag, gzips when asked, and a tampered byte fails', async () => {
      // The catch-up of the writes above moves the set's version, and with it the snapshot's bytes:
      // let it land first, so the three downloads below are of one snapshot.
      await api.deps.flagSet.refresh();
      const publicKey = (await api.request('GET', '/v1/snapshot/public-key', { token: null })).body.publicKeyPem;
      const response = await fetch(`${api.baseUrl}/v1/snapshot`, { headers: { authorization: `Bearer ${api.adminToken}`, 'accept-encoding': 'identity' } });
      expect(response.status).toBe(200);
      const bytes = Buffer.from(await response.arrayBuffer());
      const signature = Buffer.from(response.headers.get('x-flags-signature')!, 'base64');
      const key = createPublicKey(publicKey);
      expect(verify(null, bytes, key, signature)).toBe(true);
      const snapshot = JSON.parse(bytes.toString('utf8'));
      expect(snapshot.flags.map((flag: { key: string }) => flag.key)).toEqual(expect.arrayContaining(['killable', 'quiet-change']));
      expect(snapshot.flags.map((flag: { key: string }) => flag.key)).not.toContain('fresh');
      expect(snapshot.killswitches).toEqual(['payments']);

      const tampered = Buffer.from(bytes);
      const middle = Math.floor(tampered.length / 2);
      tampered[middle] = tampered[middle]! ^ 1;
      expect(verify(null, tampered, key, signature)).toBe(false);

      const etag = response.headers.get('etag')!;
      const again = await fetch(`${api.baseUrl}/v1/snapshot`, { headers: { authorization: `Bearer ${api.adminToken}`, 'if-none-match': etag } });
      expect(again.status).toBe(304);

      const gzipped = await rawGet(`${api.baseUrl}/v1/snapshot`, { authorization: `Bearer ${api.adminToken}`, 'accept-encoding': 'gzip' });
      expect(gzipped.headers['content-encoding']).toBe('gzip');
      expect(gzipped.body.length).toBeLessThan(bytes.length);
      expect(gunzipSync(gzipped.body).equals(bytes)).toBe(true);

      await api.request('POST', '/v1/flags', { body: { key: 'after-snapshot', type: 'boolean', defaultValue: false } });
      const changed = await fetch(`${api.baseUrl}/v1/snapshot`, { headers: { authorization: `Bearer ${api.adminToken}`, 'if-none-match': etag } });
      expect(changed.status).toBe(200);
    });
  });

  it('exposes Prometheus metrics to a token with feature_flag:metrics', async () => {
    const metrics = await fetch(`${second.baseUrl}/metrics`, { headers: { authorization: `Bearer ${second.adminToken}` } });
    const text = await metrics.text();
    expect(text).toMatch(/flags_evaluations_total\{endpoint="evaluate",reason="off"\} [1-9]\d*/);
    // Flag keys are labels only for flags tagged for it: 10,000 flags must not become 10,000 series.
    expect(text).not.toContain('flag="killable"');
    expect(text).toContain('flags_evaluation_duration_seconds_bucket');
    expect(text).toMatch(/flags_flags\{state="active"\} \d+/);
    expect(text).toMatch(/^flags_flag_set_stale 0$/m);
    expect(text).toMatch(/^flags_flag_set_seconds_since_confirmed \d/m);
    expect(text).toMatch(/^flags_database_up 1$/m);
  });
});

describe('the conformance vectors over HTTP', () => {
  let api: TestApi;
  const files = evaluationFiles();
  beforeAll(async () => {
    api = await startTestApi();
    await loadConformanceIntoApi(api, files);
  });
  afterAll(async () => {
    await api.close();
  });

  it('answers every case exactly as the engine does', async () => {
    let count = 0;
    for (const file of files) {
      for (const testCase of file.cases) {
        const response = await api.request('POST', '/v1/evaluate', { body: { flagKey: testCase.flagKey, context: testCase.context } });
        const label = `${file.file}: ${testCase.name}`;
        if (testCase.expected === null) {
          expect({ label, status: response.status, code: response.body?.error?.code }).toEqual({ label, status: 404, code: 'not_found' });
        } else {
          expect({ label, result: response.body }).toEqual({ label, result: testCase.expected });
        }
        count += 1;
      }
    }
    expect(count).toBeGreaterThan(200);
  });
});
