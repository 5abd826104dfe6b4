import { afterEach, describe, expect, it } from '@jest/globals';
import { createClient, type ExposureRecord, type FlagsClient } from '@flagship/sdk';
import { createExposureReporter, type ExposureReporter } from '../../packages/sdk/src/exposure-reporter.ts';
import { followEventStream, type StreamEvent } from '../../packages/sdk/src/event-stream.ts';
import type { EvaluationResult } from '@flagship/engine';
import { eventually } from '../support/eventually.ts';
import { createSigner, FakeService, flag, signSnapshot } from '../support/sdk-fakes.ts';

const result = (overrides: Partial<EvaluationResult> = {}): EvaluationResult => ({ flagKey: 'checkout', value: true, variant: null, reason: 'rule', ruleId: 'de', flagVersion: 3, ...overrides });

const reporters: ExposureReporter[] = [];
function reporter(options: Parameters<typeof createExposureReporter>[0], outcome: () => 'sent' | 'retry' | 'rejected' = () => 'sent') {
  const batches: ExposureRecord[][] = [];
  const created = createExposureReporter(options, { send: async (batch) => (batches.push(batch), outcome()) }, () => undefined);
  reporters.push(created);
  return { reporter: created, batches };
}
afterEach(async () => {
  for (const created of reporters.splice(0)) await created.close({ timeoutMs: 10 });
});

describe('exposure reporting', () => {
  it('sends the identity only, never the rest of the context, and scalar values only', async () => {
    const { reporter: exposures, batches } = reporter({ dedupeWindowMs: 0 });
    exposures.record(result(), { userId: 'u-1', projectId: 'p-1', email: 'someone@example.com', country: 'DE' });
    exposures.record(result({ flagKey: 'layout', value: { columns: 2 }, variant: 'wide', reason: 'default', ruleId: undefined }), { targetingKey: 'of-user' });
    exposures.record(result({ reason: 'error' }), { userId: 'u-1' });
    await exposures.flush();
    expect(batches).toHaveLength(1);
    const [first, second] = batches[0]!;
    expect(first).toEqual({ flagKey: 'checkout', flagVersion: 3, reason: 'rule', ruleId: 'de', value: true, userId: 'u-1', projectId: 'p-1', at: expect.any(String) });
    expect(JSON.stringify(batches)).not.toContain('example.com');
    expect(second).toEqual({ flagKey: 'layout', flagVersion: 3, reason: 'default', variant: 'wide', userId: 'of-user', at: expect.any(String) });
  });

  it('pseudonymises identities with an HMAC when given a key', async () => {
    const { reporter: exposures, batches } = reporter({ identityHashKey: 'secret' });
    exposures.record(result(), { userId: 'u-1' });
    await exposures.flush();
    expect(batches[0]![0]!.userId).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reports the same exposure once per dedupe window', async () => {
    const { reporter: exposures, batches } = reporter({ dedupeWindowMs: 60_000 });
    // The engine shares one frozen result per outcome, as here.
    const outcome = result();
    for (let i = 0; i < 100; i++) exposures.record(outcome, { userId: 'u-1' });
    exposures.record(outcome, { userId: 'u-2' });
    // A new snapshot compiles new objects; the same outcome is still the same exposure.
    exposures.record(result(), { userId: 'u-1' });
    exposures.record(result({ flagVersion: 4 }), { userId: 'u-1' });
    await exposures.flush();
    expect(batches.flat()).toHaveLength(3);
    expect(exposures.stats()).toMatchObject({ sent: 3, deduplicated: 100 });
  });

  it('samples by identity: the same users are in at every evaluation', async () => {
    const { reporter: exposures, batches } = reporter({ sampleRate: 0.25, dedupeWindowMs: 0 });
    for (let round = 0; round < 2; round++) for (let i = 0; i < 2_000; i++) exposures.record(result(), { userId: `user-${i}` });
    await exposures.flush();
    const sent = batches.flat().map((exposure) => exposure.userId);
    const unique = new Set(sent);
    expect(unique.size).toBeGreaterThan(400);
    expect(unique.size).toBeLessThan(600);
    expect(sent.length).toBe(unique.size * 2);
  });

  it('batches at maxBatchSize and keeps memory bounded while the service is down', async () => {
    let up = false;
    const { reporter: exposures, batches } = reporter({ maxBatchSize: 10, maxQueueSize: 25, dedupeWindowMs: 0, flushIntervalMs: 60_000 }, () => (up ? 'sent' : 'retry'));
    for (let i = 0; i < 40; i++) exposures.record(result(), { userId: `u-${i}` });
    await eventually(() => batches.length >= 1, Boolean, 1_000, 5);
    expect(exposures.stats()).toMatchObject({ queued: 25, dropped: 15, sent: 0 });
    up = true;
    await exposures.flush();
    expect(exposures.stats()).toMatchObject({ queued: 0, sent: 25 });
    expect(batches.slice(1).map((batch) => batch.length)).toEqual([10, 10, 5]);
  });

  it('drops a batch the service refuses rather than retrying it forever', async () => {
    const { reporter: exposures } = reporter({ dedupeWindowMs: 0 }, () => 'rejected');
    exposures.record(result(), { userId: 'u-1' });
    await exposures.flush();
    expect(exposures.stats()).toMatchObject({ queued: 0, rejected: 1, sent: 0 });
  });

  describe('through the client', () => {
    const signer = createSigner();
    let sdk: FlagsClient | undefined;
    afterEach(async () => sdk?.close());

    it('is off by default, and when on, records single evaluations but not bulk ones, and flushes on close', async () => {
      const service = new FakeService();
      service.snapshot = signSnapshot(signer, { version: 1, flags: [flag({ key: 'limit', type: 'number', defaultValue: 10 })] });
      const off = createClient({ url: 'http://flags.test', token: 't', publicKey: signer.publicKeyPem, fetch: service.fetch, refreshIntervalMs: 0, logger: null });
      await off.waitUntilReady();
      off.getNumber('limit', { userId: 'u' }, 0);
      await off.close();
      expect(off.state().exposures).toBeNull();
      expect(service.count('/v1/exposures')).toBe(0);

      sdk = createClient({ url: 'http://flags.test', token: 't', publicKey: signer.publicKeyPem, fetch: service.fetch, refreshIntervalMs: 0, logger: null, exposures: { flushIntervalMs: 60_000 } });
      await sdk.waitUntilReady();
      sdk.getNumber('limit', { userId: 'u-1' }, 0);
      sdk.getNumber('nope', { userId: 'u-1' }, 0);
      sdk.evaluateAll({ userId: 'u-2' });
      await sdk.close();
      expect(service.exposures).toEqual([[expect.objectContaining({ flagKey: 'limit', userId: 'u-1', value: 10, reason: 'default' })]]);
    });
  });
});

describe('the event stream reader', () => {
  it('parses fields, CRLF and multi-line data split across chunks, and skips comments', async () => {
    const chunks = [': hello\r\n\r\nid: 1\r\nevent: flag.updated\r', '\ndata: {"a":\r\ndata: 1}\r\n\r\n', 'data: plain\n\n'];
    const events: StreamEvent[] = [];
    let opens = 0;
    const fetchStream: typeof fetch = async () => new Response(new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      },
    }), { status: 200 });
    const stream = followEventStream({ url: 'http://x/v1/events', token: 't', fetch: fetchStream, onOpen: () => (opens += 1), onEvent: (event) => events.push(event), onError: () => undefined, onClose: () => undefined });
    await eventually(() => events.length === 2, Boolean, 1_000, 5);
    stream.close();
    expect(opens).toBe(1);
    expect(events).toEqual([
      { id: '1', event: 'flag.updated', data: '{"a":\n1}' },
      { id: '1', event: 'message', data: 'plain' },
    ]);
  });

  it('reconnects after the stream ends, and gives up for good on 401/403', async () => {
    const service = new FakeService();
    let opens = 0;
    const stream = followEventStream({ url: 'http://x/v1/events', token: 't', fetch: service.fetch, onOpen: () => (opens += 1), onEvent: () => undefined, onError: () => undefined, onClose: () => undefined, minReconnectMs: 10 });
    await eventually(() => opens === 1 && service.openStreams() === 1, Boolean, 1_000, 5);
    service.endStreams();
    await eventually(() => opens === 2, Boolean, 1_000, 5);
    stream.close();

    service.streamStatus = 401;
    const requestsBefore = service.count('/v1/events');
    const errors: { fatal: boolean }[] = [];
    const refused = followEventStream({ url: 'http://x/v1/events', token: 't', fetch: service.fetch, onOpen: () => undefined, onEvent: () => undefined, onError: (error) => errors.push(error), onClose: () => undefined, minReconnectMs: 10 });
    // The fence: a stream started with it on the same schedule that fails for a passing reason (a
    // 500) and so retries. Once that one has retried twice, the refused one would have retried too.
    const failing = new FakeService();
    failing.streamStatus = 500;
    const retried = followEventStream({ url: 'http://x/v1/events', token: 't', fetch: failing.fetch, onOpen: () => undefined, onEvent: () => undefined, onError: () => undefined, onClose: () => undefined, minReconnectMs: 10 });
    await eventually(() => failing.count('/v1/events'), (requests) => requests >= 3, 1_000, 5);
    retried.close();
    refused.close();
    expect(errors).toEqual([expect.objectContaining({ fatal: true, status: 401 })]);
    expect(service.count('/v1/events')).toBe(requestsBefore + 1);
  });
});
