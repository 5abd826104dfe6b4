import { describe, expect, it } from '@jest/globals';
import { checkGate, readJsonPath, readPrometheusValue, type FetchFunction } from '../../src/activities/rollout-gates.ts';

/** A fake fetch answering one body and status; records the URL it was asked for. */
function answering(body: unknown, status = 200): FetchFunction & { urls: string[] } {
  const urls: string[] = [];
  const fake = async (url: string) => {
    urls.push(url);
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status });
  };
  return Object.assign(fake, { urls });
}

const failing: FetchFunction = async () => {
  throw new Error('connect ECONNREFUSED');
};

describe('rollout gates', () => {
  it('reads a number at a JSON path and compares it with min and max', async () => {
    const gate = { type: 'http', url: 'http://metrics/errors', jsonPath: '$.data.series[1].rate', max: 0.05, onFailure: 'pause' } as const;
    const body = { data: { series: [{ rate: 9 }, { rate: 0.01 }] } };
    expect(await checkGate(gate, answering(body))).toMatchObject({ ok: true, value: 0.01 });
    const high = await checkGate(gate, answering({ data: { series: [{}, { rate: '0.2' }] } }));
    expect(high).toMatchObject({ ok: false, value: 0.2, reason: 'value 0.2 is above the maximum 0.05' });
    const low = await checkGate({ type: 'http', url: 'http://metrics/ok', min: 0.99, onFailure: 'pause' }, answering('0.95\n'));
    expect(low).toMatchObject({ ok: false, value: 0.95, reason: 'value 0.95 is below the minimum 0.99' });
  });

  it('without a path or thresholds, a 2xx answer passes', async () => {
    expect(await checkGate({ type: 'http', url: 'http://service/health', onFailure: 'pause' }, answering('ok'))).toMatchObject({ ok: true, value: null });
  });

  it('fails closed: unreachable, non-2xx, not JSON, missing or non-numeric values', async () => {
    const gate = { type: 'http', url: 'http://metrics/errors', jsonPath: 'rate', max: 1, onFailure: 'pause' } as const;
    expect((await checkGate(gate, failing)).reason).toBe('probe http://metrics/errors failed: connect ECONNREFUSED');
    expect((await checkGate(gate, answering({ rate: 0 }, 503))).reason).toBe('probe http://metrics/errors answered HTTP 503');
    expect((await checkGate(gate, answering('<html>'))).ok).toBe(false);
    expect((await checkGate(gate, answering({ other: 1 }))).reason).toMatch(/^rate in the answer of .* is not a number \(missing\)/);
    expect((await checkGate(gate, answering({ rate: 'NaN' }))).ok).toBe(false);
  });

  it('asks Prometheus for an instant query and reads its first sample; no data fails', async () => {
    const fetch = answering({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1700000000, '0.012'] }] } });
    const verdict = await checkGate({ type: 'prometheus', url: 'http://prom:9090/', query: 'sum(rate(errors[5m]))', max: 0.05, onFailure: 'rollback' }, fetch);
    expect(verdict).toMatchObject({ ok: true, value: 0.012 });
    expect(fetch.urls).toEqual(['http://prom:9090/api/v1/query?query=sum(rate(errors%5B5m%5D))']);
    expect(readPrometheusValue(JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '3'] } }))).toBe(3);
    expect(readPrometheusValue(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }))).toBe('no data (empty vector)');
    expect(readPrometheusValue(JSON.stringify({ status: 'error', error: 'parse error' }))).toBe('the query failed: parse error');
    expect(readPrometheusValue(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }))).toMatch(/^unsupported result type matrix/);
  });

  it('reads dotted and indexed JSON paths', () => {
    const document = { a: { b: [{ c: 1 }, { c: 2 }] } };
    expect(readJsonPath(document, '$.a.b[1].c')).toBe(2);
    expect(readJsonPath(document, 'a.b.0.c')).toBe(1);
    expect(readJsonPath(document, '$.a.x.y')).toBeUndefined();
  });
});
