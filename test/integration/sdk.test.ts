import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { OpenFeature, ProviderEvents, type EventDetails } from '@openfeature/server-sdk';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { createClient, fetchBootstrap, type ClientOptions, type FlagsClient } from '@flagship/sdk';
import { FlagsProvider } from '@flagship/sdk/openfeature';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { startSdkProxy, type SdkProxy } from '../support/sdk-proxy.ts';

describe('the SDK against the real service', () => {
  let api: TestApi;
  let proxy: SdkProxy;
  let publicKey: string;
  let evaluateToken: string;
  const clients: FlagsClient[] = [];

  const client = (options: Partial<ClientOptions> = {}): FlagsClient => {
    const created = createClient({ url: api.baseUrl, token: evaluateToken, publicKey, logger: null, ...options });
    clients.push(created);
    return created;
  };
  const createFlag = async (body: Record<string, unknown>) => {
    const created = await api.request('POST', '/v1/flags', { body });
    if (created.status !== 201) throw new Error(`flag refused: ${JSON.stringify(created.body)}`);
    return created.body as { version: number };
  };
  const patchFlag = async (key: string, body: Record<string, unknown>) => {
    const current = await api.request('GET', `/v1/flags/${key}`);
    const patched = await api.request('PATCH', `/v1/flags/${key}`, { body: { ...body, version: current.body.version } });
    if (patched.status !== 200) throw new Error(`patch refused: ${JSON.stringify(patched.body)}`);
  };

  beforeAll(async () => {
    api = await startTestApi();
    proxy = await startSdkProxy(api.baseUrl);
    publicKey = (await api.request('GET', '/v1/snapshot/public-key', { token: null })).body.publicKeyPem;
    evaluateToken = (await api.request('POST', '/v1/tokens', { body: { name: 'checkout-service', owner: { id: 'checkout-service', kind: 'service' }, scopes: ['feature_flag:evaluate'] } })).body.token;
    await createFlag({ key: 'sdk-checkout', type: 'boolean', defaultValue: false, rules: [{ id: 'de', conditions: [{ attribute: 'country', op: 'equals', value: 'DE' }], serve: { value: true } }] });
    await createFlag({ key: 'sdk-limit', type: 'number', defaultValue: 10 });
  });
  afterEach(async () => {
    proxy.mode = 'pass';
    for (const created of clients.splice(0)) await created.close();
  });
  afterAll(async () => {
    await proxy.close();
    await api.close();
  });

  it('starts from a bootstrap file without a round trip, then refreshes from the service', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdk-bootstrap-'));
    writeFileSync(join(dir, 'flags.json'), await fetchBootstrap({ url: api.baseUrl, token: evaluateToken, publicKey }));
    await patchFlag('sdk-limit', { defaultValue: 11 });

    const sdk = client({ url: proxy.url, bootstrap: { path: join(dir, 'flags.json') }, refreshIntervalMs: 0 });
    // Before any request has been answered, the bootstrap serves.
    expect(sdk.state()).toMatchObject({ status: 'ready', source: 'bootstrap', lastSuccessAt: null });
    expect(sdk.getNumber('sdk-limit', {}, 0)).toBe(10);
    await eventually(() => sdk.state().source === 'network', Boolean, 2_000, 5);
    expect(sdk.getNumber('sdk-limit', {}, 0)).toBe(11);
    expect(sdk.state()).toMatchObject({ status: 'ready', lastError: null });
  });

  it('sees a change within its refresh interval, and answers exactly as POST /v1/evaluate does', async () => {
    const sdk = client({ refreshIntervalMs: 250 });
    await sdk.waitUntilReady();
    await patchFlag('sdk-limit', { defaultValue: 12 });
    const changedAt = Date.now();
    await eventually(() => sdk.getNumber('sdk-limit', {}, 0) === 12, Boolean, 1_000, 5);
    // The interval is jittered ±10 %: seen within one interval and the request.
    expect(Date.now() - changedAt).toBeLessThan(250 * 1.1 + 200);
    for (const context of [{ country: 'DE' }, { country: 'FR' }, {}]) {
      const http = await api.request('POST', '/v1/evaluate', { body: { flagKey: 'sdk-checkout', context } });
      expect(sdk.evaluate('sdk-checkout', context, false)).toEqual(http.body);
    }
  });

  it('asks with If-None-Match and gets 304 while nothing changes', async () => {
    proxy.log.length = 0;
    const sdk = client({ url: proxy.url, refreshIntervalMs: 0 });
    await sdk.waitUntilReady();
    await sdk.refresh();
    await sdk.refresh();
    expect(proxy.log.map((entry) => `${entry.path} ${entry.status}`)).toEqual(['/v1/snapshot 200', '/v1/snapshot 304', '/v1/snapshot 304']);
  });

  it('follows the event stream with a manage token for sub-second updates', async () => {
    const manageToken = (await api.request('POST', '/v1/tokens', { body: { name: 'checkout-stream', owner: { id: 'checkout-service', kind: 'service' }, scopes: ['feature_flag:manage'] } })).body.token;
    const sdk = client({ refreshIntervalMs: 60_000, stream: { token: manageToken } });
    await sdk.waitUntilReady();
    await eventually(() => sdk.state().streaming, Boolean, 2_000, 5);
    await patchFlag('sdk-limit', { defaultValue: 13 });
    const { ms } = await eventually(() => sdk.getNumber('sdk-limit', {}, 0) === 13, Boolean, 1_000, 5);
    expect(ms).toBeLessThan(1_000);
  });

  it('cannot stream with an evaluate-only token: streaming stops, polling goes on', async () => {
    const sdk = client({ refreshIntervalMs: 200, stream: true });
    await sdk.waitUntilReady();
    await eventually(() => sdk.state().streamError !== null, Boolean, 2_000, 5);
    expect(sdk.state()).toMatchObject({ streaming: false, streamError: { status: 403 } });
    await patchFlag('sdk-limit', { defaultValue: 14 });
    await eventually(() => sdk.getNumber('sdk-limit', {}, 0) === 14, Boolean, 1_000, 5);
  });

  it('rejects a tampered snapshot and keeps serving the last good one', async () => {
    const sdk = client({ url: proxy.url, refreshIntervalMs: 0 });
    await sdk.waitUntilReady();
    const held = sdk.state().snapshotVersion;
    await patchFlag('sdk-limit', { defaultValue: 15 });
    proxy.mode = 'tamper';
    await sdk.refresh();
    expect(sdk.state()).toMatchObject({ status: 'stale', snapshotVersion: held, lastError: { code: 'signature' } });
    expect(sdk.getNumber('sdk-limit', {}, 0)).toBe(14);
    proxy.mode = 'pass';
    await sdk.refresh();
    expect(sdk.state()).toMatchObject({ status: 'ready', staleSince: null });
    await eventually(() => sdk.getNumber('sdk-limit', {}, 0) === 15, Boolean, 1_000, 5);
  });

  it('refuses a replayed older snapshot', async () => {
    const sdk = client({ url: proxy.url, refreshIntervalMs: 0 });
    await sdk.waitUntilReady();
    proxy.recorded = proxy.lastSnapshot;
    const old = sdk.state().snapshotVersion!;
    await patchFlag('sdk-limit', { defaultValue: 16 });
    await sdk.refresh();
    await eventually(() => sdk.state().snapshotVersion! > old, Boolean, 1_000, 5);
    proxy.mode = 'replay';
    await sdk.refresh();
    expect(sdk.state()).toMatchObject({ lastError: { code: 'older_snapshot' } });
    expect(sdk.state().snapshotVersion).toBeGreaterThan(old);
    expect(sdk.getNumber('sdk-limit', {}, 0)).toBe(16);
  });

  describe('exposures', () => {
    const exposureEvents = () =>
      api.db.pool.any(sql.type(z.object({ id: z.number(), entity_key: z.string().nullable(), payload: z.record(z.string(), z.unknown()) }))`
        SELECT id, entity_key, payload FROM outbox WHERE type = 'flag.exposure' ORDER BY id`);

    it('sends them in batches the service appends as one flag.exposure event each, without moving the snapshot version', async () => {
      const versionBefore = api.deps.flagSet.version;
      const sdk = client({ exposures: { flushIntervalMs: 60_000, dedupeWindowMs: 0 }, refreshIntervalMs: 0 });
      await sdk.waitUntilReady();
      sdk.isEnabled('sdk-checkout', { userId: 'u-1', country: 'DE', email: 'private@example.com' });
      sdk.isEnabled('sdk-checkout', { userId: 'u-2', projectId: 'p-9' });
      sdk.getNumber('sdk-limit', { targetingKey: 'of-user' }, 0);
      sdk.getNumber('sdk-missing', { userId: 'u-1' }, 0);
      await sdk.flushExposures();
      expect(sdk.state().exposures).toMatchObject({ sent: 3, queued: 0 });

      const events = await exposureEvents();
      expect(events).toHaveLength(1);
      const payload = events[0]!.payload as { source: string; count: number; exposures: Record<string, unknown>[] };
      expect(payload).toMatchObject({ source: 'checkout-service', count: 3 });
      expect(payload.exposures).toEqual([
        { flagKey: 'sdk-checkout', flagVersion: 1, reason: 'rule', ruleId: 'de', value: true, userId: 'u-1', at: expect.any(String) },
        { flagKey: 'sdk-checkout', flagVersion: 1, reason: 'default', value: false, userId: 'u-2', projectId: 'p-9', at: expect.any(String) },
        { flagKey: 'sdk-limit', flagVersion: expect.any(Number), reason: 'default', value: expect.any(Number), userId: 'of-user', at: expect.any(String) },
      ]);
      expect(JSON.stringify(payload)).not.toContain('example.com');

      // Analytics is not a flag change: the flag-set version and the snapshot stay where they were.
      await api.deps.flagSet.check();
      expect(api.deps.flagSet.version).toBe(versionBefore);
      const snapshot = await fetch(`${api.baseUrl}/v1/snapshot`, { headers: { authorization: `Bearer ${evaluateToken}` } });
      expect(Number(snapshot.headers.get('x-flags-snapshot-version'))).toBe(versionBefore);
    });

    it('keeps the flag-set version an index lookup that skips exposures', async () => {
      const plan = await api.db.pool.transaction(async (tx) => {
        await tx.query(sql.typeAlias('void')`SET LOCAL enable_seqscan = off`);
        return tx.anyFirst(sql.type(z.object({ 'QUERY PLAN': z.string() }))`
          EXPLAIN SELECT max(id) FROM outbox WHERE ((type LIKE 'flag.%' OR type LIKE 'segment.%' OR type LIKE 'killswitch.%') AND type <> 'flag.exposure')`);
      });
      expect(plan.join('\n')).toContain('outbox_evaluation_changes_idx');
    });

    it('validates a batch: size, unknown fields (no whole contexts), and a project-limited token', async () => {
      const at = new Date().toISOString();
      const one = { flagKey: 'sdk-limit', flagVersion: 1, reason: 'default', at };
      expect((await api.request('POST', '/v1/exposures', { body: { exposures: [one] }, token: evaluateToken })).status).toBe(202);
      const tooMany = await api.request('POST', '/v1/exposures', { body: { exposures: Array.from({ length: 1_001 }, () => one) }, token: evaluateToken });
      expect(tooMany.status).toBe(400);
      const withContext = await api.request('POST', '/v1/exposures', { body: { exposures: [{ ...one, context: { email: 'x@example.com' } }] }, token: evaluateToken });
      expect(withContext.status).toBe(400);
      expect((await api.request('POST', '/v1/exposures', { body: { exposures: [] }, token: evaluateToken })).status).toBe(400);

      const limited = (await api.request('POST', '/v1/tokens', { body: { name: 'p1-service', owner: { id: 'p1-service', kind: 'service' }, scopes: ['feature_flag:evaluate'], projectIds: ['p1'] } })).body.token;
      expect((await api.request('POST', '/v1/exposures', { body: { exposures: [{ ...one, projectId: 'p1' }] }, token: limited })).status).toBe(202);
      const other = await api.request('POST', '/v1/exposures', { body: { exposures: [{ ...one, projectId: 'p1' }, { ...one, projectId: 'p2' }] }, token: limited });
      expect(other.status).toBe(403);
      expect((await api.request('POST', '/v1/exposures', { body: { exposures: [one] }, token: null })).status).toBe(401);
    });
  });

  describe('the OpenFeature provider', () => {
    afterEach(async () => {
      await OpenFeature.close();
    });

    it('resolves each type with the contract reason mapping, flat metadata and errors', async () => {
      await createFlag({ key: 'of-string', type: 'string', defaultValue: 'plain', variants: { blue: 'blue', green: 'green' }, rules: [{ id: 'beta', conditions: [{ attribute: 'plan', op: 'equals', value: 'beta' }], serve: { variant: 'green' } }] });
      await createFlag({ key: 'of-number', type: 'number', defaultValue: 3, onValue: 7, rollout: { percentage: 100 } });
      await createFlag({ key: 'of-json', type: 'json', defaultValue: { columns: 2 }, enabled: false });
      await createFlag({ key: 'of-needs', type: 'boolean', defaultValue: true, prerequisites: [{ flagKey: 'sdk-checkout', value: true }] });
      await OpenFeature.setProviderAndWait('sdk-test', new FlagsProvider({ url: api.baseUrl, token: evaluateToken, publicKey, logger: null, refreshIntervalMs: 200 }));
      const of = OpenFeature.getClient('sdk-test');

      expect(await of.getBooleanDetails('sdk-checkout', false, { targetingKey: 'u-1', country: 'DE' })).toMatchObject({
        value: true, reason: 'TARGETING_MATCH', flagMetadata: { reason: 'rule', ruleId: 'de', flagVersion: 1 },
      });
      expect(await of.getBooleanDetails('sdk-checkout', true, { targetingKey: 'u-1' })).toMatchObject({ value: false, reason: 'DEFAULT', flagMetadata: { reason: 'default' } });
      expect(await of.getStringDetails('of-string', 'x', { targetingKey: 'u-1', plan: 'beta' })).toMatchObject({ value: 'green', variant: 'green', reason: 'TARGETING_MATCH' });
      expect(await of.getNumberDetails('of-number', 0, { targetingKey: 'u-1' })).toMatchObject({ value: 7, reason: 'SPLIT', flagMetadata: { reason: 'percentage', inRollout: true } });
      expect(await of.getObjectDetails('of-json', { columns: 1 }, {})).toMatchObject({ value: { columns: 2 }, reason: 'DISABLED', flagMetadata: { reason: 'off' } });
      expect(await of.getBooleanDetails('of-needs', true, {})).toMatchObject({ value: true, reason: 'DISABLED', flagMetadata: { reason: 'prerequisite_failed', prerequisiteKey: 'sdk-checkout' } });

      expect(await of.getBooleanDetails('of-nope', true, {})).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
      expect(await of.getStringDetails('of-number', 'fallback', {})).toMatchObject({ value: 'fallback', reason: 'ERROR', errorCode: 'TYPE_MISMATCH' });
      const metadata = (await of.getNumberDetails('of-number', 0, { targetingKey: 'u-1' })).flagMetadata;
      expect(Object.values(metadata).every((value) => ['string', 'number', 'boolean'].includes(typeof value))).toBe(true);
    });

    it('emits CONFIGURATION_CHANGED naming the changed flags', async () => {
      await OpenFeature.setProviderAndWait('sdk-events', new FlagsProvider({ url: api.baseUrl, token: evaluateToken, publicKey, logger: null, refreshIntervalMs: 100 }));
      const changes: EventDetails[] = [];
      OpenFeature.getClient('sdk-events').addHandler(ProviderEvents.ConfigurationChanged, (details) => {
        if (details) changes.push(details);
      });
      await patchFlag('sdk-limit', { defaultValue: 17 });
      await eventually(() => changes.some((change) => (change as { flagsChanged?: string[] }).flagsChanged?.includes('sdk-limit')), Boolean, 2_000, 5);
      expect(await OpenFeature.getClient('sdk-events').getNumberValue('sdk-limit', 0)).toBe(17);
    });
  });

  // Last: it stops the service for good.
  it('keeps serving the last good snapshot when the service is stopped, and says since when it is stale', async () => {
    const sdk = client({ refreshIntervalMs: 100 });
    await sdk.waitUntilReady();
    const answer = sdk.evaluate('sdk-checkout', { country: 'DE' }, false);
    const stoppedAt = Date.now();
    await proxy.close();
    await api.close();
    await eventually(() => sdk.state().status === 'stale', Boolean, 2_000, 5);
    const state = sdk.state();
    expect(state).toMatchObject({ hasSnapshot: true, lastError: { code: 'network' } });
    expect(state.staleSince).toBeGreaterThanOrEqual(stoppedAt);
    // It keeps trying (every refresh interval) and keeps counting the failures.
    await eventually(() => sdk.state().consecutiveFailures, (failures) => failures > 1, 2_000, 5);
    expect(sdk.evaluate('sdk-checkout', { country: 'DE' }, false)).toEqual(answer);
    expect(sdk.getNumber('sdk-limit', {}, 0)).toBeGreaterThan(10);
    // afterAll closes them again; make that a no-op.
    proxy.close = async () => undefined;
    api.close = async () => undefined;
  });
});
