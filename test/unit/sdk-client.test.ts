import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { changedFlagKeys, createClient, type ClientOptions, type FlagsClient, type SnapshotChange } from '@flagship/sdk';
import { eventually } from '../support/eventually.ts';
import { bootstrapText, createSigner, FakeService, flag, segment, signSnapshot } from '../support/sdk-fakes.ts';

const signer = createSigner();
const quiet = { logger: null } as const;

const checkout = flag({ key: 'checkout', type: 'boolean', defaultValue: false, rules: [{ id: 'de', conditions: [{ attribute: 'country', op: 'equals', value: 'DE' }], serve: { value: true } }] });
const banner = flag({ key: 'banner', type: 'string', defaultValue: 'plain', variants: { A: 'blue', B: 'green' }, rollout: { distribution: [{ variant: 'A', weight: 50 }, { variant: 'B', weight: 50 }] }, onValue: 'blue' });
const limit = flag({ key: 'limit', type: 'number', defaultValue: 10 });
const layout = flag({ key: 'layout', type: 'json', defaultValue: { columns: 2 } });

const clients: FlagsClient[] = [];
function client(options: Partial<ClientOptions>): FlagsClient {
  const created = createClient({ url: 'http://flags.test', token: 't', publicKey: signer.publicKeyPem, ...quiet, ...options });
  clients.push(created);
  return created;
}
afterEach(async () => {
  for (const created of clients.splice(0)) await created.close();
});

describe('the SDK client, offline from a bootstrap', () => {
  const snapshot = signSnapshot(signer, { version: 7, flags: [checkout, banner, limit, layout] });

  it('is ready at once from a verified bootstrap and evaluates locally', async () => {
    const sdk = client({ offline: true, bootstrap: bootstrapText(snapshot) });
    expect(sdk.state()).toMatchObject({ status: 'ready', hasSnapshot: true, snapshotVersion: 7, source: 'bootstrap', flagCount: 4, etag: snapshot.etag });
    await expect(sdk.waitUntilReady()).resolves.toMatchObject({ snapshotVersion: 7 });
    expect(sdk.evaluate('checkout', { country: 'DE' }, false)).toEqual({ flagKey: 'checkout', value: true, variant: null, reason: 'rule', ruleId: 'de', flagVersion: 1 });
    expect(sdk.isEnabled('checkout', { country: 'FR' })).toBe(false);
    expect(['blue', 'green']).toContain(sdk.getString('banner', { userId: 'u-1' }, 'fallback'));
    expect(sdk.getNumber('limit', {}, 0)).toBe(10);
    expect(sdk.getJson('layout', {}, { columns: 1 })).toEqual({ columns: 2 });
  });

  it('reads a bootstrap file, and a raw body with its signature', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdk-bootstrap-'));
    writeFileSync(join(dir, 'flags.json'), bootstrapText(snapshot));
    expect(client({ offline: true, bootstrap: { path: join(dir, 'flags.json') } }).state().snapshotVersion).toBe(7);
    expect(client({ offline: true, bootstrap: { snapshot: snapshot.body, signature: snapshot.signature } }).state().snapshotVersion).toBe(7);
    const missing = client({ offline: true, bootstrap: { path: join(dir, 'nope.json') } });
    expect(missing.state()).toMatchObject({ status: 'failed', hasSnapshot: false, lastError: { code: 'bootstrap' } });
  });

  it('refuses a bootstrap that fails verification, and one signed by another key', () => {
    const tampered = JSON.parse(bootstrapText(snapshot)) as { snapshot: string };
    tampered.snapshot = tampered.snapshot.replace('"defaultValue":10', '"defaultValue":99');
    const sdk = client({ offline: true, bootstrap: JSON.stringify(tampered) });
    expect(sdk.state()).toMatchObject({ status: 'failed', lastError: { code: 'signature' } });
    expect(sdk.evaluate('limit', {}, 0)).toMatchObject({ value: 0, reason: 'error', errorCode: 'PROVIDER_NOT_READY' });

    const other = createSigner();
    const foreign = client({ offline: true, publicKey: other.publicKeyPem, bootstrap: bootstrapText(snapshot) });
    expect(foreign.state().lastError?.code).toBe('signature');
  });

  it('answers the fallback with reason error, never throwing', () => {
    const sdk = client({ offline: true, bootstrap: bootstrapText(snapshot) });
    expect(sdk.evaluate('nope', {}, 'x')).toEqual({ flagKey: 'nope', value: 'x', variant: null, reason: 'error', flagVersion: 0, errorCode: 'FLAG_NOT_FOUND', errorMessage: expect.any(String) });
    expect(sdk.evaluate('limit', {}, 'not a number')).toMatchObject({ value: 'not a number', reason: 'error', errorCode: 'TYPE_MISMATCH', flagVersion: 1 });
    expect(sdk.getString('checkout', {}, 'fallback')).toBe('fallback');
    expect(sdk.isEnabled('limit')).toBe(false);
    const hostile = new Proxy({}, { get: () => { throw new Error('boom'); } });
    expect(sdk.evaluate('checkout', hostile, false)).toMatchObject({ value: false, reason: 'error', errorCode: 'GENERAL' });
    expect(sdk.evaluate('checkout', null as never, false)).toMatchObject({ value: false, reason: 'default' });
    expect(sdk.evaluate(undefined as never, {}, false)).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
  });

  it('bulk-evaluates every flag or the keys asked for, naming the missing ones', () => {
    const sdk = client({ offline: true, bootstrap: bootstrapText(snapshot) });
    const all = sdk.evaluateAll({ userId: 'u-1', country: 'DE' });
    expect(all.snapshotVersion).toBe(7);
    expect(all.results.map((result) => result.flagKey).sort()).toEqual(['banner', 'checkout', 'layout', 'limit']);
    const some = sdk.evaluateAll({}, ['limit', 'nope']);
    expect(some.results.map((result) => result.flagKey)).toEqual(['limit']);
    expect(some.missing).toEqual(['nope']);
    const none = client({ offline: true });
    expect(none.evaluateAll({}, ['limit'])).toEqual({ snapshotVersion: null, results: [], missing: ['limit'], errorCode: 'PROVIDER_NOT_READY' });
  });

  it('exports what it holds as a bootstrap another client accepts', () => {
    const sdk = client({ offline: true, bootstrap: { snapshot: snapshot.body, signature: snapshot.signature, etag: snapshot.etag } });
    const again = client({ offline: true, bootstrap: sdk.exportBootstrap()! });
    expect(again.state()).toMatchObject({ snapshotVersion: 7, etag: snapshot.etag });
  });

  it('keeps a flag it cannot compile out, answering GENERAL for it, and serves the rest', () => {
    const future = { ...checkout, key: 'future', rules: [{ id: 'r', conditions: [{ attribute: 'a', op: 'equals', value: 1 }], serve: { variant: 'missing' } }] };
    const mixed = signSnapshot(signer, { version: 8, flags: [limit, future as never] });
    const sdk = client({ offline: true, bootstrap: bootstrapText(mixed) });
    expect(sdk.state().unsupportedFlags).toEqual(['future']);
    expect(sdk.evaluate('future', {}, true)).toMatchObject({ value: true, reason: 'error', errorCode: 'GENERAL' });
    expect(sdk.getNumber('limit', {}, 0)).toBe(10);
  });

  it('refuses configuration errors at creation, not on the hot path', () => {
    expect(() => createClient({ url: 'flags.test', token: 't', publicKey: signer.publicKeyPem })).toThrow(/url/);
    expect(() => createClient({ url: 'http://flags.test', token: '', publicKey: signer.publicKeyPem })).toThrow(/token/);
    expect(() => createClient({ url: 'http://flags.test', token: 't', publicKey: 'not a key' })).toThrow();
  });
});

describe('the SDK client against a fake service', () => {
  it('loads, then refreshes with If-None-Match: 304 changes nothing, a newer snapshot is installed', async () => {
    const service = new FakeService();
    service.snapshot = signSnapshot(signer, { version: 1, flags: [limit] });
    const sdk = client({ fetch: service.fetch, refreshIntervalMs: 0 });
    await sdk.waitUntilReady({ timeoutMs: 1_000 });
    expect(sdk.state()).toMatchObject({ status: 'ready', snapshotVersion: 1, source: 'network' });
    expect(service.requests[0]!.headers['if-none-match']).toBeUndefined();

    await sdk.refresh();
    expect(service.requests[1]!.headers['if-none-match']).toBe(service.snapshot.etag);
    expect(sdk.state().snapshotVersion).toBe(1);

    const changes: SnapshotChange[] = [];
    sdk.on('change', (change) => changes.push(change));
    service.snapshot = signSnapshot(signer, { version: 2, flags: [flag({ key: 'limit', type: 'number', defaultValue: 20 }, 2)] });
    await sdk.refresh();
    expect(sdk.getNumber('limit', {}, 0)).toBe(20);
    expect(changes).toEqual([{ version: 2, previousVersion: 1, source: 'network', flagsChanged: ['limit'] }]);
  });

  it('polls on its interval', async () => {
    const service = new FakeService();
    service.snapshot = signSnapshot(signer, { version: 1, flags: [limit] });
    const sdk = client({ fetch: service.fetch, refreshIntervalMs: 50 });
    await sdk.waitUntilReady();
    service.snapshot = signSnapshot(signer, { version: 2, flags: [flag({ key: 'limit', type: 'number', defaultValue: 20 }, 2)] });
    await eventually(() => sdk.getNumber('limit', {}, 0) === 20, Boolean, 1_000, 5);
  });

  it('keeps the last good snapshot while the service is down or answers 500, reports stale, then recovers', async () => {
    const service = new FakeService();
    service.snapshot = signSnapshot(signer, { version: 3, flags: [limit] });
    const sdk = client({ fetch: service.fetch, refreshIntervalMs: 0 });
    await sdk.waitUntilReady();
    const events: string[] = [];
    sdk.on('stale', () => events.push('stale'));
    sdk.on('recovered', () => events.push('recovered'));

    service.mode = 'down';
    const before = Date.now();
    await sdk.refresh();
    const down = sdk.state();
    expect(down).toMatchObject({ status: 'stale', snapshotVersion: 3, consecutiveFailures: 1, lastError: { code: 'network' } });
    expect(down.staleSince).toBeGreaterThanOrEqual(before);
    expect(sdk.getNumber('limit', {}, 0)).toBe(10);

    service.mode = 'error500';
    await sdk.refresh();
    expect(sdk.state()).toMatchObject({ status: 'stale', staleSince: down.staleSince, consecutiveFailures: 2, lastError: { code: 'http', status: 500 } });

    service.mode = 'serve';
    await sdk.refresh();
    expect(sdk.state()).toMatchObject({ status: 'ready', staleSince: null, consecutiveFailures: 0 });
    expect(events).toEqual(['stale', 'recovered']);
  });

  it('rejects a tampered snapshot and keeps the verified one', async () => {
    const service = new FakeService();
    service.snapshot = signSnapshot(signer, { version: 1, flags: [checkout] });
    const sdk = client({ fetch: service.fetch, refreshIntervalMs: 0 });
    await sdk.waitUntilReady();
    service.snapshot = signSnapshot(signer, { version: 2, flags: [checkout, limit] });
    service.mode = 'tamper';
    await sdk.refresh();
    expect(sdk.state()).toMatchObject({ status: 'stale', snapshotVersion: 1, lastError: { code: 'signature' } });
    expect(sdk.isEnabled('checkout', {}, true)).toBe(false);
  });

  it('refuses a replayed older snapshot, from the network or a bootstrap', async () => {
    const old = signSnapshot(signer, { version: 4, flags: [limit] });
    const service = new FakeService();
    service.snapshot = signSnapshot(signer, { version: 9, flags: [flag({ key: 'limit', type: 'number', defaultValue: 90 }, 5)] });
    const sdk = client({ fetch: service.fetch, refreshIntervalMs: 0, bootstrap: bootstrapText(old) });
    expect(sdk.getNumber('limit', {}, 0)).toBe(10);
    await eventually(() => sdk.state().snapshotVersion === 9, Boolean, 3_000, 5);
    expect(sdk.getNumber('limit', {}, 0)).toBe(90);

    service.replay = old;
    await sdk.refresh();
    expect(sdk.state()).toMatchObject({ snapshotVersion: 9, lastError: { code: 'older_snapshot' } });
    expect(sdk.getNumber('limit', {}, 0)).toBe(90);

    // A stale bootstrap file cannot roll back what the network gave: the newer one wins either way.
    const fresh = new FakeService();
    fresh.snapshot = old;
    const booted = client({ fetch: fresh.fetch, refreshIntervalMs: 0, bootstrap: bootstrapText(service.snapshot) });
    await booted.refresh();
    expect(booted.state()).toMatchObject({ snapshotVersion: 9, lastError: { code: 'older_snapshot' } });
  });

  it('keeps its snapshot when the same version comes with other content, and asks again for the next version', async () => {
    // An API process that applied its own write serves the new content a moment before its version moves.
    const service = new FakeService();
    service.snapshot = signSnapshot(signer, { version: 5, flags: [limit] });
    const sdk = client({ fetch: service.fetch, refreshIntervalMs: 0 });
    await sdk.waitUntilReady();
    const changed = flag({ key: 'limit', type: 'number', defaultValue: 11 }, 2);
    service.snapshot = signSnapshot(signer, { version: 5, flags: [changed] });
    await sdk.refresh();
    expect(sdk.state()).toMatchObject({ snapshotVersion: 5, status: 'ready', lastError: null });
    expect(sdk.getNumber('limit', {}, 0)).toBe(10);
    service.snapshot = signSnapshot(signer, { version: 6, flags: [changed] });
    await eventually(() => sdk.getNumber('limit', {}, 0) === 11, Boolean, 1_000, 5);
  });

  it('starts from a bootstrap while the service is unreachable, and retries without one', async () => {
    const service = new FakeService();
    service.mode = 'down';
    const booted = client({ fetch: service.fetch, bootstrap: bootstrapText(signSnapshot(signer, { version: 2, flags: [limit] })) });
    expect(booted.getNumber('limit', {}, 0)).toBe(10);
    await eventually(() => booted.state().consecutiveFailures === 1, Boolean, 3_000, 5);
    expect(booted.state().status).toBe('stale');

    const cold = client({ fetch: service.fetch });
    await expect(cold.waitUntilReady({ timeoutMs: 50 })).rejects.toThrow(/not ready.*fetch failed/);
    expect(cold.state()).toMatchObject({ status: 'failed', hasSnapshot: false });
    service.mode = 'serve';
    service.snapshot = signSnapshot(signer, { version: 2, flags: [limit] });
    // First retry after about a second.
    await cold.waitUntilReady({ timeoutMs: 2_500 });
  });

  it('reports an unauthorized token', async () => {
    const service = new FakeService();
    const unauthorized: typeof fetch = async () => new Response('{"error":{"code":"unauthenticated"}}', { status: 401 });
    const sdk = client({ fetch: unauthorized, refreshIntervalMs: 0 });
    await eventually(() => sdk.state().lastError !== null, Boolean, 3_000, 5);
    expect(sdk.state()).toMatchObject({ status: 'failed', lastError: { code: 'unauthorized', status: 401 } });
    expect(service.requests).toHaveLength(0);
  });

  it('follows the event stream: refetches on a change, ignores exposures, and stops on 403', async () => {
    const service = new FakeService();
    service.snapshot = signSnapshot(signer, { version: 1, flags: [limit] });
    const sdk = client({ fetch: service.fetch, refreshIntervalMs: 0, stream: true });
    await sdk.waitUntilReady();
    await eventually(() => sdk.state().streaming, Boolean, 1_000, 5);
    await eventually(() => service.count('/v1/snapshot') >= 2, Boolean, 1_000, 5);
    const fetches = service.count('/v1/snapshot');

    service.push(50, 'flag.exposure');
    // The change after the exposure is the fence: its refetch is the only one.
    service.snapshot = signSnapshot(signer, { version: 51, flags: [flag({ key: 'limit', type: 'number', defaultValue: 51 }, 2)] });
    service.push(51, 'flag.updated');
    await eventually(() => sdk.getNumber('limit', {}, 0) === 51, Boolean, 1_000, 5);
    expect(service.count('/v1/snapshot')).toBe(fetches + 1);

    const refused = new FakeService();
    refused.snapshot = service.snapshot;
    refused.streamStatus = 403;
    const limited = client({ fetch: refused.fetch, refreshIntervalMs: 0, stream: true });
    await eventually(() => limited.state().streamError !== null, Boolean, 1_000, 5);
    expect(limited.state()).toMatchObject({ streaming: false, streamError: { code: 'stream', status: 403 } });
    expect(refused.count('/v1/events')).toBe(1);
  });

  it('keeps asking after a stream event until the snapshot includes it (another API process may lag)', async () => {
    const service = new FakeService();
    service.snapshot = signSnapshot(signer, { version: 1, flags: [limit] });
    const sdk = client({ fetch: service.fetch, refreshIntervalMs: 0, stream: true });
    await sdk.waitUntilReady();
    await eventually(() => sdk.state().streaming, Boolean, 3_000, 5);
    const asked = service.count('/v1/snapshot');
    service.push(5, 'flag.updated');
    // It asked, got the old version, and asked again.
    await eventually(() => service.count('/v1/snapshot'), (count) => count >= asked + 2, 2_000, 5);
    service.snapshot = signSnapshot(signer, { version: 5, flags: [flag({ key: 'limit', type: 'number', defaultValue: 5 }, 2)] });
    await eventually(() => sdk.getNumber('limit', {}, 0) === 5, Boolean, 2_000, 5);
  });
});

describe('changedFlagKeys', () => {
  const beta = segment({ key: 'beta', name: 'Beta', conditions: [{ attribute: 'plan', op: 'equals', value: 'beta' }] });
  const uses = flag({ key: 'uses-beta', type: 'boolean', defaultValue: false, rules: [{ id: 'b', conditions: [{ segment: 'beta' }], serve: { value: true } }] });
  const killable = flag({ key: 'killable', type: 'boolean', defaultValue: true, killswitch: 'payments' });
  const dependent = flag({ key: 'dependent', type: 'boolean', defaultValue: true, prerequisites: [{ flagKey: 'killable', value: true }] });
  const base = { version: 1, generatedAt: '', flags: [uses, killable, dependent, limit], segments: [beta], killswitches: [] as string[] };

  it('names added, removed and changed flags, users of a changed segment, a toggled killswitch and their dependents', () => {
    expect(changedFlagKeys(null, base)).toEqual(['uses-beta', 'killable', 'dependent', 'limit']);
    expect(changedFlagKeys(base, { ...base, version: 2 })).toEqual([]);
    expect(changedFlagKeys(base, { ...base, flags: [uses, killable, dependent, { ...limit, version: 2 }, checkout] })).toEqual(['checkout', 'limit']);
    expect(changedFlagKeys(base, { ...base, flags: [uses, killable, dependent] })).toEqual(['limit']);
    expect(changedFlagKeys(base, { ...base, segments: [{ ...beta, conditions: [] }] })).toEqual(['uses-beta']);
    expect(changedFlagKeys(base, { ...base, killswitches: ['payments'] })).toEqual(['dependent', 'killable']);
  });
});
