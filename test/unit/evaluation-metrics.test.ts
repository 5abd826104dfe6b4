import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { EvaluationMetrics, PER_FLAG_METRICS_LIMIT, PER_FLAG_METRICS_TAG } from '../../src/api/evaluation-metrics.ts';
import { HttpMetrics } from '../../src/api/http-metrics.ts';
import { compileFlagSet, evaluate, evaluateAll, type CompiledFlagSet } from '@flagship/engine';
import { storedFlag } from '../engine/support/flags.ts';

/** The samples of the exposition text, `name{labels}` → value. */
async function samples(registry: Registry): Promise<Map<string, number>> {
  const text = await registry.metrics();
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    found.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return found;
}

const tagged = storedFlag({
  key: 'watched',
  type: 'boolean',
  defaultValue: false,
  tags: [PER_FLAG_METRICS_TAG, 'checkout'],
  denylist: ['u-banned'],
  rules: [{ id: 'staff', conditions: [{ attribute: 'staff', op: 'equals', value: true }], serve: { value: true } }],
  rollout: { percentage: 50 },
});
const untagged = storedFlag({ key: 'plain', type: 'boolean', defaultValue: true });

function evaluateAs(metrics: EvaluationMetrics, set: CompiledFlagSet, key: string, context: Record<string, unknown>) {
  const result = evaluate(set, key, context)!;
  metrics.count(set, result, 'evaluate');
  return result;
}

describe('evaluation metrics', () => {
  it('count every evaluation by endpoint and reason, and flag by flag only the tagged flags, by reason and rule', async () => {
    const registry = new Registry();
    const metrics = new EvaluationMetrics(registry);
    const set = compileFlagSet({ flags: [tagged, untagged], segments: [] });
    evaluateAs(metrics, set, 'watched', { userId: 'u-1', staff: true });
    evaluateAs(metrics, set, 'watched', { userId: 'u-2', staff: true });
    evaluateAs(metrics, set, 'watched', { userId: 'u-banned' });
    evaluateAs(metrics, set, 'watched', { userId: 'u-3' });
    evaluateAs(metrics, set, 'plain', { userId: 'u-3' });
    metrics.countAll(set, evaluateAll(set, { userId: 'u-1', staff: true }), 'bulk');

    const found = await samples(registry);
    expect(found.get('flags_evaluations_total{endpoint="evaluate",reason="rule"}')).toBe(3);
    expect(found.get('flags_evaluations_total{endpoint="evaluate",reason="percentage"}')).toBe(1);
    expect(found.get('flags_evaluations_total{endpoint="evaluate",reason="default"}')).toBe(1);
    expect(found.get('flags_evaluations_total{endpoint="bulk",reason="rule"}')).toBe(1);
    expect(found.get('flags_evaluations_total{endpoint="bulk",reason="default"}')).toBe(1);
    expect(found.get('flags_flag_evaluations_total{flag="watched",reason="rule",rule="staff"}')).toBe(3);
    expect(found.get('flags_flag_evaluations_total{flag="watched",reason="rule",rule="denylist"}')).toBe(1);
    expect(found.get('flags_flag_evaluations_total{flag="watched",reason="percentage",rule=""}')).toBe(1);
    expect([...found.keys()].filter((name) => name.includes('flag="plain"'))).toEqual([]);
  });

  it('drop the series of a flag that loses the tag', async () => {
    const registry = new Registry();
    const metrics = new EvaluationMetrics(registry);
    const before = compileFlagSet({ flags: [tagged], segments: [] });
    evaluateAs(metrics, before, 'watched', { userId: 'u-1' });
    expect([...(await samples(registry)).keys()].some((name) => name.includes('flag="watched"'))).toBe(true);

    const after = before.withFlag({ ...tagged, tags: ['checkout'], version: 2 });
    evaluateAs(metrics, after, 'watched', { userId: 'u-1' });
    const found = await samples(registry);
    expect([...found.keys()].filter((name) => name.includes('flag="watched"'))).toEqual([]);
    expect(found.get('flags_evaluations_total{endpoint="evaluate",reason="percentage"}')).toBe(2);
  });

  it(`give series to at most ${PER_FLAG_METRICS_LIMIT} tagged flags, the first by key, and say which were left out`, async () => {
    const registry = new Registry();
    const leftOut: string[][] = [];
    const metrics = new EvaluationMetrics(registry, { onOverLimit: (flags) => leftOut.push(flags) });
    const flags = Array.from({ length: PER_FLAG_METRICS_LIMIT + 5 }, (_, index) =>
      storedFlag({ key: `f-${String(index).padStart(4, '0')}`, type: 'boolean', defaultValue: true, tags: [PER_FLAG_METRICS_TAG] }),
    );
    const set = compileFlagSet({ flags, segments: [] });
    metrics.countAll(set, evaluateAll(set, {}), 'bulk');
    metrics.countAll(set, evaluateAll(set, {}), 'bulk');

    const perFlag = [...(await samples(registry)).keys()].filter((name) => name.startsWith('flags_flag_evaluations_total{'));
    expect(perFlag).toHaveLength(PER_FLAG_METRICS_LIMIT * 4);
    expect(perFlag.some((name) => name.includes(`flag="f-${String(PER_FLAG_METRICS_LIMIT - 1).padStart(4, '0')}"`))).toBe(true);
    expect(perFlag.some((name) => name.includes(`flag="f-${String(PER_FLAG_METRICS_LIMIT).padStart(4, '0')}"`))).toBe(false);
    // Logged once per change of what is left out, not once per evaluation.
    expect(leftOut).toEqual([flags.slice(PER_FLAG_METRICS_LIMIT).map((flag) => flag.key)]);
  });

  it('expose a latency histogram whose buckets are cumulative and end at the count', async () => {
    const registry = new Registry();
    const metrics = new EvaluationMetrics(registry);
    for (const seconds of [0.00004, 0.0003, 0.0003, 0.015, 0.02, 0.5, 3]) metrics.observeSeconds('evaluate', seconds);
    const found = await samples(registry);
    const bucket = (le: string) => found.get(`flags_evaluation_duration_seconds_bucket{le="${le}",endpoint="evaluate"}`);
    expect(bucket('0.00005')).toBe(1);
    expect(bucket('0.0005')).toBe(3);
    // The SLO's 20 ms is a bound: an answer of exactly 20 ms is within it.
    expect(bucket('0.01')).toBe(3);
    expect(bucket('0.02')).toBe(5);
    expect(bucket('1')).toBe(6);
    expect(bucket('+Inf')).toBe(7);
    expect(found.get('flags_evaluation_duration_seconds_count{endpoint="evaluate"}')).toBe(7);
    expect(found.get('flags_evaluation_duration_seconds_sum{endpoint="evaluate"}')).toBeCloseTo(3.53564, 5);
    expect(found.get('flags_evaluation_duration_seconds_count{endpoint="bulk"}')).toBe(0);
  });
});

describe('HTTP metrics', () => {
  it('count requests by method, route template and status', async () => {
    const registry = new Registry();
    const http = new HttpMetrics(registry);
    http.count('GET', '/v1/flags/:key', 200);
    http.count('GET', '/v1/flags/:key', 200);
    http.count('GET', '/v1/flags/:key', 404);
    http.count('POST', '/v1/evaluate', 200);
    const found = await samples(registry);
    expect(found.get('flags_http_requests_total{method="GET",route="/v1/flags/:key",status="200"}')).toBe(2);
    expect(found.get('flags_http_requests_total{method="GET",route="/v1/flags/:key",status="404"}')).toBe(1);
    expect(found.get('flags_http_requests_total{method="POST",route="/v1/evaluate",status="200"}')).toBe(1);
  });
});
