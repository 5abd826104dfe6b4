import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature, type Client } from '@openfeature/server-sdk';
import { startTestApi, type TestApi } from '../support/api.ts';

describe('OFREP with the published OpenFeature client', () => {
  let api: TestApi;
  let client: Client;
  beforeAll(async () => {
    api = await startTestApi();
    const flags = [
      { key: 'of-bool', type: 'boolean', defaultValue: false, rules: [{ id: 'pro', conditions: [{ attribute: 'plan', op: 'equals', value: 'pro' }], serve: { value: true } }] },
      { key: 'of-string', type: 'string', defaultValue: 'blue', variants: { red: 'red', blue: 'blue' }, rollout: { distribution: [{ variant: 'red', weight: 100 }] } },
      { key: 'of-number', type: 'number', defaultValue: 3, enabled: false, offValue: 0 },
      { key: 'of-object', type: 'json', defaultValue: { limit: 10, tiers: ['a'] } },
    ];
    for (const flag of flags) {
      const created = await api.request('POST', '/v1/flags', { body: flag });
      if (created.status !== 201) throw new Error(JSON.stringify(created.body));
    }
    await OpenFeature.setProviderAndWait('ofrep-test', new OFREPProvider({ baseUrl: api.baseUrl, headers: { Authorization: `Bearer ${api.adminToken}` } }));
    client = OpenFeature.getClient('ofrep-test');
  });
  afterAll(async () => {
    await OpenFeature.close();
    await api.close();
  });

  it('resolves a boolean by a rule, with our reason in flat metadata', async () => {
    const details = await client.getBooleanDetails('of-bool', false, { targetingKey: 'user-1', plan: 'pro' });
    expect(details).toMatchObject({ value: true, reason: 'TARGETING_MATCH', flagMetadata: { reason: 'rule', ruleId: 'pro', flagVersion: 1 } });
  });

  it('resolves a string by split with its variant, identity from targetingKey', async () => {
    const details = await client.getStringDetails('of-string', 'none', { targetingKey: 'user-2' });
    expect(details).toMatchObject({ value: 'red', variant: 'red', reason: 'SPLIT', flagMetadata: { reason: 'percentage', inRollout: true } });
  });

  it('resolves a disabled number flag to its off value with reason DISABLED', async () => {
    const details = await client.getNumberDetails('of-number', -1, { targetingKey: 'user-3' });
    expect(details).toMatchObject({ value: 0, reason: 'DISABLED', flagMetadata: { reason: 'off' } });
  });

  it('resolves an object flag with reason DEFAULT', async () => {
    const details = await client.getObjectDetails('of-object', {}, { targetingKey: 'user-4' });
    expect(details).toMatchObject({ value: { limit: 10, tiers: ['a'] }, reason: 'DEFAULT' });
  });

  it('gives the fallback with FLAG_NOT_FOUND for a missing flag', async () => {
    const details = await client.getBooleanDetails('no-such-flag', true, { targetingKey: 'user-5' });
    expect(details).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
  });

  it('answers the OFREP error shape for a malformed body and a bad context', async () => {
    const malformed = await api.request('POST', '/ofrep/v1/evaluate/flags/of-bool', { body: '{"context": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ key: 'of-bool', errorCode: 'PARSE_ERROR' });
    const badContext = await api.request('POST', '/ofrep/v1/evaluate/flags/of-bool', { body: { context: 'not an object' } });
    expect(badContext.status).toBe(400);
    expect(badContext.body).toMatchObject({ key: 'of-bool', errorCode: 'INVALID_CONTEXT' });
  });

  it('refuses a context over its limits with INVALID_CONTEXT, single and bulk', async () => {
    const nested = (levels: number) => `{"context":{"targetingKey":"u","nested":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}}`;
    const huge = JSON.stringify({ context: { targetingKey: 'u', blob: 'x'.repeat(1_000_000) } });
    for (const [body, details] of [[nested(10), /the context is too large/], [huge, /the context is too large/], [nested(10_000), /nested deeper than/]] as const) {
      const single = await api.request('POST', '/ofrep/v1/evaluate/flags/of-bool', { body });
      expect(single.status).toBe(400);
      expect(single.body).toMatchObject({ key: 'of-bool', errorCode: 'INVALID_CONTEXT', errorDetails: expect.stringMatching(details) });
      const bulk = await api.request('POST', '/ofrep/v1/evaluate/flags', { body });
      expect(bulk.status).toBe(400);
      expect(bulk.body).toMatchObject({ errorCode: 'INVALID_CONTEXT' });
    }
  });

  it('bulk-evaluates with an ETag that changes only when this context\'s results do, and exposes it across origins', async () => {
    const first = await api.request('POST', '/ofrep/v1/evaluate/flags', { body: { context: { targetingKey: 'user-6', plan: 'free' } } });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/application\/json/);
    expect(first.headers.get('access-control-expose-headers')).toBe('ETag');
    expect(first.body.flags.map((flag: { key: string }) => flag.key).sort()).toEqual(['of-bool', 'of-number', 'of-object', 'of-string']);
    const etag = first.headers.get('etag')!;

    const same = await api.request('POST', '/ofrep/v1/evaluate/flags', { body: { context: { targetingKey: 'user-6', plan: 'free' } }, headers: { 'if-none-match': etag } });
    expect(same.status).toBe(304);
    // A non-key attribute that changes an answer must change the ETag, or a browser client would keep a stale result.
    const upgraded = await api.request('POST', '/ofrep/v1/evaluate/flags', { body: { context: { targetingKey: 'user-6', plan: 'pro' } }, headers: { 'if-none-match': etag } });
    expect(upgraded.status).toBe(200);
    expect(upgraded.headers.get('etag')).not.toBe(etag);

    const preflight = await fetch(`${api.baseUrl}/ofrep/v1/evaluate/flags`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('If-None-Match');
  });
});
