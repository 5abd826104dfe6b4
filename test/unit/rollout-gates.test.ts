import { describe, expect, it } from '@jest/globals';
import { checkGate, readJsonPath, readPrometheusValue, type GateProbe } from '../../src/activities/rollout-gates.ts';
import { OutboundError } from '../../src/outbound/outbound-client.ts';

/** A fake probe answering one body and status; records the URL it was asked for. */
function answering(body: unknown, status = 200): GateProbe & { urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    async request(url) {
      urls.push(url);
      return { status, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) };
    },
  };
}

function failingWith(error: OutboundError): GateProbe {
  return {
    async request() {
      throw error;
    },
  };
}

describe('rollout gates', () => {
  it('reads a number at a JSON path and compares it with min and max', async () => {
    const gate = { type: 'http', url: 'http://metrics/errors', jsonPath: '$.data.series[1].rate', max: 0.05, onFailure: 'pause' } as const;
    const body = { data: { series: [{ rate: 9 }, { rate: 0.01 }] } };
    expect(await checkGate(gate, answering(body))).toMatchObject({ ok: true, value: 0.01 });
    const high = await checkGate(gate, answering({ data: { series: [{}, { rate: '0.2' }] } }));
    expect(high).toMatchObject({ ok: false, value: 0.2, reason: 'the value is above the maximum 0.05' });
    const low = await checkGate({ type: 'http', url: 'http://metrics/ok', min: 0.99, onFailure: 'pause' }, answering('0.95\n'));
    expect(low).toMatchObject({ ok: false, value: 0.95, reason: 'the value is below the minimum 0.99' });
  });

  it('without a path or thresholds, a 2xx answer passes', async () => {
    expect(await checkGate({ type: 'http', url: 'http://service/health', onFailure: 'pause' }, answering('ok'))).toMatchObject({ ok: true, value: null });
  });

  it('fails closed: unreachable, refused, timed out, non-2xx, redirected, too large, not JSON, missing or non-numeric values', async () => {
    const gate = { type: 'http', url: 'http://metrics/errors', jsonPath: 'rate', max: 1, onFailure: 'pause' } as const;
    expect((await checkGate(gate, failingWith(new OutboundError('network', 'connection failed (ECONNREFUSED)')))).reason).toBe('probe http://metrics/errors failed: connection failed (ECONNREFUSED)');
    expect((await checkGate(gate, failingWith(new OutboundError('timeout', 'timed out after 5000 ms')))).reason).toBe('probe http://metrics/errors failed: timed out after 5000 ms');
    expect((await checkGate(gate, failingWith(new OutboundError('refused', 'refused by the outbound policy: metrics resolves to a private address')))).reason)
      .toBe('probe http://metrics/errors refused by the outbound policy: metrics resolves to a private address');
    expect((await checkGate(gate, failingWith(new OutboundError('too_large', 'too large')))).reason).toBe('probe http://metrics/errors answered more than 1048576 bytes');
    expect((await checkGate(gate, answering({ rate: 0 }, 503))).reason).toBe('probe http://metrics/errors answered HTTP 503');
    expect((await checkGate(gate, answering({ rate: 0 }, 302))).reason).toBe('probe http://metrics/errors answered HTTP 302; redirects are not followed');
    expect((await checkGate(gate, answering('<html>'))).reason).toBe('probe http://metrics/errors did not answer JSON');
    expect((await checkGate(gate, answering({ other: 1 }))).reason).toBe('rate in the answer of http://metrics/errors is missing or not a number');
    expect((await checkGate(gate, answering({ rate: 'NaN' }))).ok).toBe(false);
  });

  it('never quotes what the probe answered, nor the number it compared', async () => {
    const secretGate = { type: 'http', url: 'http://metrics/internal', jsonPath: '$.secret', max: 1, onFailure: 'pause' } as const;
    const verdicts = [
      await checkGate(secretGate, answering({ secret: 'TOPSECRET' })),
      await checkGate(secretGate, answering('TOPSECRET', 500)),
      await checkGate({ ...secretGate, jsonPath: undefined }, answering('TOPSECRET')),
      await checkGate({ type: 'prometheus', url: 'http://prom', query: 'up', max: 1, onFailure: 'pause' }, answering({ status: 'error', error: 'TOPSECRET' })),
      await checkGate({ type: 'prometheus', url: 'http://prom', query: 'up', max: 1, onFailure: 'pause' }, answering({ status: 'success', data: { resultType: 'TOPSECRET' } })),
      await checkGate(secretGate, answering({ secret: 424242 })),
    ];
    for (const verdict of verdicts) {
      expect(verdict.ok).toBe(false);
      expect(verdict.reason).not.toMatch(/TOPSECRET|424242/);
    }
  });

  it('asks Prometheus for an instant query and reads its first sample; no data fails', async () => {
    const fetch = answering({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1700000000, '0.012'] }] } });
    const verdict = await checkGate({ type: 'prometheus', url: 'http://prom:9090/', query: 'sum(rate(errors[5m]))', max: 0.05, onFailure: 'rollback' }, fetch);
    expect(verdict).toMatchObject({ ok: true, value: 0.012 });
    expect(fetch.urls).toEqual(['http://prom:9090/api/v1/query?query=sum(rate(errors%5B5m%5D))']);
    expect(readPrometheusValue(JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '3'] } }))).toBe(3);
    expect(readPrometheusValue(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }))).toBe('no data (empty vector)');
    expect(readPrometheusValue(JSON.stringify({ status: 'error', error: 'parse error' }))).toBe('the query failed (the answer\'s status is not "success")');
    expect(readPrometheusValue(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }))).toMatch(/^unsupported result type matrix/);
  });

  it('reads dotted and indexed JSON paths', () => {
    const document = { a: { b: [{ c: 1 }, { c: 2 }] } };
    expect(readJsonPath(document, '$.a.b[1].c')).toBe(2);
    expect(readJsonPath(document, 'a.b.0.c')).toBe(1);
    expect(readJsonPath(document, '$.a.x.y')).toBeUndefined();
  });
});
