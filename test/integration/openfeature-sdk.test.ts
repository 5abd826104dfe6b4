import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { metrics, trace } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { createClient, type FlagsClient } from '@flagship/sdk';
import { createEnvToggleMigration } from '@flagship/sdk/migration';
import { FlagsProvider } from '@flagship/sdk/openfeature';
import { OpenTelemetryHook } from '@flagship/sdk/telemetry';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { startSdkProxy, type SdkProxy } from '../support/sdk-proxy.ts';

const trackingRow = z.object({ id: z.number(), payload: z.any() });

describe('the SDK\'s OpenFeature provider: events, tracking, telemetry, and the env-toggle migration', () => {
  let api: TestApi;
  let proxy: SdkProxy;
  let publicKey: string;
  let evaluateToken: string;
  const clients: FlagsClient[] = [];
  const trackedBatches = async () => (await api.db.pool.any(sql.type(trackingRow)`SELECT id, payload FROM outbox WHERE type = 'tracking.events' ORDER BY id`)).map((row) => row.payload);

  beforeAll(async () => {
    api = await startTestApi();
    proxy = await startSdkProxy(api.baseUrl);
    publicKey = (await api.request('GET', '/v1/snapshot/public-key', { token: null })).body.publicKeyPem;
    evaluateToken = (await api.request('POST', '/v1/tokens', { body: { name: 'of-service', owner: { id: 'of-service', kind: 'service' }, scopes: ['feature_flag:evaluate'] } })).body.token;
    const flags = [
      { key: 'of-checkout', type: 'string', defaultValue: 'classic', variants: { classic: 'classic', express: 'express' }, rules: [{ id: 'de', conditions: [{ attribute: 'country', op: 'equals', value: 'DE' }], serve: { variant: 'express' } }] },
      { key: 'of-new-search', type: 'boolean', defaultValue: false, rules: [{ id: 'staff', conditions: [{ attribute: 'staff', op: 'equals', value: true }], serve: { value: true } }] },
    ];
    for (const flag of flags) expect((await api.request('POST', '/v1/flags', { body: flag })).status).toBe(201);
  });
  afterEach(async () => {
    proxy.mode = 'pass';
    await OpenFeature.close();
    for (const client of clients.splice(0)) await client.close();
  });
  afterAll(async () => {
    await proxy.close();
    await api.close();
  });

  it('emits STALE while the service is away and READY when it is back; ERROR when there is no snapshot to answer from', async () => {
    const provider = new FlagsProvider({ url: proxy.url, token: evaluateToken, publicKey, logger: null, refreshIntervalMs: 100 });
    await OpenFeature.setProviderAndWait('of-events', provider);
    const seen: string[] = [];
    const client = OpenFeature.getClient('of-events');
    for (const event of [ProviderEvents.Stale, ProviderEvents.Ready, ProviderEvents.Error]) client.addHandler(event, () => seen.push(event));
    proxy.mode = 'down';
    await eventually(() => [...seen], (events) => events.includes(ProviderEvents.Stale), 5_000);
    await expect(client.getStringValue('of-checkout', 'none', { country: 'DE' })).resolves.toBe('express');
    proxy.mode = 'pass';
    await eventually(() => [...seen], (events) => events.at(-1) === ProviderEvents.Ready, 5_000);
    // A handler added to a ready provider runs once at once; then the outage and the recovery.
    expect(seen).toEqual([ProviderEvents.Ready, ProviderEvents.Stale, ProviderEvents.Ready]);

    // A provider that never got a snapshot: its failed refreshes are errors, and the first snapshot makes it ready.
    proxy.mode = 'down';
    const empty = new FlagsProvider({ url: proxy.url, token: evaluateToken, publicKey, logger: null, refreshIntervalMs: 100 }, { readyTimeoutMs: 200 });
    const errors: string[] = [];
    empty.events.addHandler(ProviderEvents.Error, (details) => errors.push(details?.message ?? ''));
    await expect(empty.initialize()).rejects.toThrow(/not ready/);
    await eventually(() => errors.length, (count) => count > 0, 5_000);
    const ready = new Promise((resolve) => empty.events.addHandler(ProviderEvents.Ready, resolve));
    proxy.mode = 'pass';
    await ready;
    expect(empty.client.evaluate('of-checkout', { country: 'DE' }, 'none').value).toBe('express');
    await empty.onClose();
  });

  it('sends track() to the service in batches, through the outbox, with the identity and the details only', async () => {
    const before = (await trackedBatches()).length;
    const provider = new FlagsProvider({ url: api.baseUrl, token: evaluateToken, publicKey, logger: null, tracking: { flushIntervalMs: 60_000, maxBatchSize: 3 } });
    await OpenFeature.setProviderAndWait('of-tracking', provider);
    const client = OpenFeature.getClient('of-tracking');
    const context = { targetingKey: 'buyer-7', email: 'buyer7@example.com', country: 'DE' };
    client.track('checkout.completed', context, { value: 99.5, currency: 'EUR', items: 3 });
    client.track('checkout.completed', context, { value: 12 });
    expect((await trackedBatches()).length).toBe(before);
    // The third fills a batch of three, which goes at once, without waiting for the interval.
    client.track('search.used', { targetingKey: 'buyer-8' });
    const { value: batches } = await eventually(trackedBatches, (rows) => rows.length === before + 1, 5_000);
    const batch = batches.at(-1);
    expect(batch).toMatchObject({ source: 'of-service', count: 3 });
    expect(batch.events).toEqual([
      { eventName: 'checkout.completed', userId: 'buyer-7', value: 99.5, attributes: { currency: 'EUR', items: 3 }, at: expect.any(String) },
      { eventName: 'checkout.completed', userId: 'buyer-7', value: 12, at: expect.any(String) },
      { eventName: 'search.used', userId: 'buyer-8', at: expect.any(String) },
    ]);
    expect(JSON.stringify(batch)).not.toContain('buyer7@example.com');
    expect(await provider.client.flushTracking()).toEqual({ sent: 3, dropped: 0, queued: 0 });
  });

  it('has an OpenTelemetry hook that adds the semantic conventions\' evaluation event and counts unknown flag keys', async () => {
    const spans = new InMemorySpanExporter();
    const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    tracerProvider.register();
    const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 });
    const meterProvider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(meterProvider);
    try {
      const provider = new FlagsProvider({ url: api.baseUrl, token: evaluateToken, publicKey, logger: null });
      await OpenFeature.setProviderAndWait('of-telemetry', provider);
      const client = OpenFeature.getClient('of-telemetry');
      client.addHooks(new OpenTelemetryHook());
      await trace.getTracer('test').startActiveSpan('checkout request', async (span) => {
        await client.getStringValue('of-checkout', 'none', { targetingKey: 'u-1', country: 'DE' });
        await client.getBooleanValue('of-chekout-typo', false, { targetingKey: 'u-1' });
        await client.getBooleanValue('of-chekout-typo', false, { targetingKey: 'u-2' });
        span.end();
      });
      const [span] = spans.getFinishedSpans();
      expect(span!.events.map((event) => event.name)).toEqual(['feature_flag.evaluation', 'feature_flag.evaluation', 'feature_flag.evaluation']);
      expect(span!.events[0]!.attributes).toMatchObject({
        'feature_flag.key': 'of-checkout',
        'feature_flag.result.variant': 'express',
        'feature_flag.result.reason': 'targeting_match',
        'feature_flag.provider.name': 'flags-sdk',
        'feature_flag.set.id': 'flagship',
        'feature_flag.version': '1',
        'feature_flag.context.id': 'u-1',
      });
      expect(span!.events[1]!.attributes).toMatchObject({ 'feature_flag.key': 'of-chekout-typo', 'error.type': 'flag_not_found' });
      await reader.forceFlush();
      const unknown = metricExporter.getMetrics().flatMap((exported) => exported.scopeMetrics.flatMap((scope) => scope.metrics)).find((metric) => metric.descriptor.name === 'feature_flag.evaluation.unknown_key');
      expect(unknown?.dataPoints.map((point) => [point.attributes['feature_flag.key'], point.value])).toEqual([['of-chekout-typo', 2]]);
      expect([...provider.unknownFlagKeys()]).toEqual([['of-chekout-typo', 2]]);
    } finally {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
    }
  });

  it('migrates an environment-variable toggle: serves the configured source and reports every context where the flag disagrees', async () => {
    const sdk = createClient({ url: api.baseUrl, token: evaluateToken, publicKey, logger: null, tracking: { flushIntervalMs: 60_000 } });
    clients.push(sdk);
    await sdk.waitUntilReady();
    const before = (await trackedBatches()).length;
    const env = { NEW_SEARCH: 'true' };
    const reported: unknown[] = [];
    const staffOnly = { client: sdk, flagKey: 'of-new-search', envVar: 'NEW_SEARCH', fallback: false, env, onDisagreement: (d: unknown) => reported.push(d) };
    const whileEnvDecides = createEnvToggleMigration({ ...staffOnly, serve: 'env' });
    expect(whileEnvDecides.value({ userId: 'ann', staff: true })).toBe(true);
    expect(whileEnvDecides.value({ userId: 'bob', staff: false })).toBe(true);
    expect(whileEnvDecides.stats()).toEqual({ evaluations: 2, disagreements: 1 });
    expect(reported).toEqual([{ flagKey: 'of-new-search', envVar: 'NEW_SEARCH', envValue: true, flagValue: false, served: 'env', context: { userId: 'bob', staff: false } }]);
    const whenFlagDecides = createEnvToggleMigration({ ...staffOnly, serve: 'flag' });
    expect(whenFlagDecides.value({ userId: 'bob', staff: false })).toBe(false);
    expect(whenFlagDecides.value({ userId: 'ann', staff: true })).toBe(true);
    expect(whenFlagDecides.stats()).toEqual({ evaluations: 2, disagreements: 1 });
    // Both disagreements reach the service as tracking events, for the team's dashboard.
    await sdk.flushTracking();
    const batches = (await trackedBatches()).slice(before);
    expect(batches.flatMap((batch) => batch.events)).toEqual([
      { eventName: 'flagship.migration.disagreement', userId: 'bob', attributes: { flagKey: 'of-new-search', envVar: 'NEW_SEARCH', envValue: 'true', flagValue: 'false', served: 'env' }, at: expect.any(String) },
      { eventName: 'flagship.migration.disagreement', userId: 'bob', attributes: { flagKey: 'of-new-search', envVar: 'NEW_SEARCH', envValue: 'true', flagValue: 'false', served: 'flag' }, at: expect.any(String) },
    ]);
  });
});
