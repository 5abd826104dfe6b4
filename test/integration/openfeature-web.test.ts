import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { EventSource } from 'eventsource';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';

/** One request the web provider made, with what it was answered. */
interface Exchange {
  method: string;
  path: string;
  status: number;
  ifNoneMatch: string | null;
  body: unknown;
}

describe('the published OFREP web provider follows the OFREP event stream', () => {
  let api: TestApi;
  const exchanges: Exchange[] = [];
  const bulkExchanges = () => exchanges.filter((exchange) => exchange.path.startsWith('/ofrep/v1/evaluate/flags'));
  const changes: string[][] = [];

  beforeAll(async () => {
    api = await startTestApi();
    // The DOM's EventSource, which the provider looks up globally as a browser has it.
    (globalThis as { EventSource?: unknown }).EventSource = EventSource;
    const created = await api.request('POST', '/v1/flags', {
      body: { key: 'web-banner', type: 'boolean', defaultValue: false, rules: [{ id: 'beta', conditions: [{ attribute: 'plan', op: 'equals', value: 'beta' }], serve: { value: true } }], enabled: false, offValue: false },
    });
    expect(created.status).toBe(201);
    const recordingFetch: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      const response = await fetch(request.clone());
      const url = new URL(request.url);
      exchanges.push({
        method: request.method,
        path: url.pathname + url.search,
        status: response.status,
        ifNoneMatch: request.headers.get('if-none-match'),
        body: response.status === 200 ? await response.clone().json() : undefined,
      });
      return response;
    };
    const provider = new OFREPWebProvider({
      baseUrl: api.baseUrl,
      headers: [['Authorization', `Bearer ${api.adminToken}`]],
      fetchImplementation: recordingFetch,
      // No polling at all: only the event stream can tell the provider of a change.
      pollInterval: 0,
      cacheMode: 'disabled',
    });
    await OpenFeature.setContext({ targetingKey: 'visitor-1', plan: 'beta' });
    await OpenFeature.setProviderAndWait(provider);
    OpenFeature.getClient().addHandler(ProviderEvents.ConfigurationChanged, (details) => changes.push(details?.flagsChanged ?? []));
  });

  afterAll(async () => {
    await OpenFeature.close();
    delete (globalThis as { EventSource?: unknown }).EventSource;
    await api.close();
  });

  it('receives eventStreams and flag-set metadata in the bulk answer and opens the stream', async () => {
    const [first] = bulkExchanges();
    expect(first).toMatchObject({ method: 'POST', status: 200 });
    expect(first!.body).toMatchObject({
      metadata: { flagSetId: 'flagship' },
      eventStreams: [{ type: 'sse', endpoint: { requestUri: expect.stringMatching(/^\/ofrep\/v1\/event-stream\?ticket=/) } }],
    });
    const banner = (first!.body as { flags: { key: string; metadata: unknown }[] }).flags.find((flag) => flag.key === 'web-banner');
    expect(banner?.metadata).toMatchObject({ flagSetId: 'flagship', version: '1' });
    // The stream holds a place among this process's streams; the bulk request is the only one made.
    await eventually(() => api.deps.outboxTail.streams, (streams) => streams === 1, 5_000);
    expect(OpenFeature.getClient().getBooleanValue('web-banner', true)).toBe(false);
    expect(OpenFeature.getClient().getBooleanDetails('web-banner', true).flagMetadata).toMatchObject({ flagSetId: 'flagship', version: '1' });
  });

  it('sees a flag change within a second, told by the stream, without polling', async () => {
    const requestsBefore = bulkExchanges().length;
    const patched = await api.request('PATCH', '/v1/flags/web-banner', { body: { enabled: true, version: 1 } });
    expect(patched.status).toBe(200);
    const started = Date.now();
    const { ms } = await eventually(() => OpenFeature.getClient().getBooleanValue('web-banner', false), (value) => value, 5_000, 5);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(ms).toBeLessThan(1_000);
    expect(changes.at(-1)).toEqual(['web-banner']);
    // One re-fetch, made because the stream said so, naming the flag-set version it was told of.
    const refetches = bulkExchanges().slice(requestsBefore);
    expect(refetches).toHaveLength(1);
    expect(refetches[0]).toMatchObject({ status: 200, path: expect.stringMatching(/^\/ofrep\/v1\/evaluate\/flags\?flagConfigEtag=\d+$/) });
  });

  it('gets a 304 when it re-fetches after a change that does not touch its answers', async () => {
    const requestsBefore = bulkExchanges().length;
    const changesBefore = changes.length;
    // A segment no flag uses: the flag set changes, this context's answers do not.
    const segment = await api.request('POST', '/v1/segments', { body: { key: 'unused-web', name: 'Unused', conditions: [] } });
    expect(segment.status).toBe(201);
    const { value } = await eventually(() => bulkExchanges().slice(requestsBefore), (made) => made.length > 0, 5_000);
    expect(value[0]).toMatchObject({ status: 304, ifNoneMatch: expect.stringMatching(/^".+"$/) });
    // A later change that does touch it is the sentinel: nothing was reported changed in between.
    const patched = await api.request('PATCH', '/v1/flags/web-banner', { body: { enabled: false, version: 2 } });
    expect(patched.status).toBe(200);
    await eventually(() => OpenFeature.getClient().getBooleanValue('web-banner', true), (banner) => !banner, 5_000, 5);
    expect(changes.slice(changesBefore)).toEqual([['web-banner']]);
  });
});
