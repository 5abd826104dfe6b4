import { describe, expect, it } from '@jest/globals';
import { normalizePlan, planSchema } from '../../src/domain/rollout-plan.ts';
import type { Flag } from '@flagship/engine';
import { AppError } from '../../src/errors.ts';
import { parseDuration } from '../../src/domain/duration.ts';

const flag: Flag = {
  key: 'checkout', type: 'string', description: '', tags: [], enabled: true, onValue: 'a', offValue: 'b', defaultValue: 'b',
  variants: { A: 'a', B: 'b' }, allowlist: [], denylist: [], prerequisites: [], rules: [], highImpact: false, state: 'active', version: 3,
};
const NOW = Date.parse('2030-01-01T12:00:00Z');

describe('rollout plans', () => {
  it('parses durations: units, compounds, ISO 8601 and milliseconds', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('PT1H30M')).toBe(5_400_000);
    expect(parseDuration('P1DT12H')).toBe(129_600_000);
    expect(parseDuration(1500)).toBe(1500);
    for (const bad of ['soon', '5', 'P', 'PT', '1x', '-1s']) expect(parseDuration(bad)).toBeNull();
  });

  it('turns at/after into absolute target times, keeps bucketBy on every step, and takes the plan gate unless a step overrides it', () => {
    const gate = { type: 'http', url: 'http://m/x', max: 1 };
    const plan = normalizePlan(planSchema.parse({
      bucketBy: 'accountId',
      gate,
      steps: [
        { percentage: 5, after: '1h' },
        { percentage: 25, at: '2030-01-02T12:00:00Z', gate: null },
        { distribution: [{ variant: 'A', weight: 50 }, { variant: 'B', weight: 50 }], after: '1d' },
      ],
    }), flag, NOW);
    expect(plan.onResume).toBe('shift_schedule');
    expect(plan.steps.map((step) => new Date(step.targetAt).toISOString())).toEqual(['2030-01-01T13:00:00.000Z', '2030-01-02T12:00:00.000Z', '2030-01-03T12:00:00.000Z']);
    expect(plan.steps.map((step) => step.rollout.bucketBy)).toEqual(['accountId', 'accountId', 'accountId']);
    expect(plan.steps.map((step) => step.gate?.type ?? null)).toEqual(['http', null, 'http']);
    expect(plan.steps[0]?.gate).toMatchObject({ onFailure: 'pause' });
  });

  it("refuses a bucketBy other than the flag's rollout's: the plan would reshuffle who is in", () => {
    const withRollout: Flag = { ...flag, rollout: { percentage: 10, bucketBy: 'userId' } };
    const refused = () => normalizePlan(planSchema.parse({ bucketBy: 'accountId', steps: [{ percentage: 20, after: '1m' }] }), withRollout, NOW);
    expect(refused).toThrow(AppError);
    expect(refused).toThrow(/bucketBy/);
    const kept = normalizePlan(planSchema.parse({ steps: [{ percentage: 20, after: '1m' }] }), withRollout, NOW);
    expect(kept.steps[0]?.rollout).toEqual({ percentage: 20, bucketBy: 'userId' });
  });

  it('validates every step against the flag', () => {
    const noVariants: Flag = { ...flag, variants: {} };
    expect(() => normalizePlan(planSchema.parse({ steps: [{ distribution: [{ variant: 'A', weight: 100 }], after: '1m' }] }), noVariants, NOW)).toThrow(/steps\[0\]\.distribution/);
    expect(() => normalizePlan(planSchema.parse({ steps: [{ percentage: 10, at: '2029-12-31T00:00:00Z' }] }), flag, NOW)).toThrow(/more than 5 minutes in the past/);
  });

  it('catches up with the minimum dwell unless the plan opts out; minDwell is a duration, and meaningless with catchUp immediate', () => {
    const steps = [{ percentage: 10, after: '1m' }, { percentage: 20, after: '1h' }];
    expect(normalizePlan(planSchema.parse({ steps }), flag, NOW)).toMatchObject({ catchUp: 'dwell' });
    expect(normalizePlan(planSchema.parse({ steps }), flag, NOW).minDwellMs).toBeUndefined();
    expect(normalizePlan(planSchema.parse({ steps, minDwell: '90s' }), flag, NOW)).toMatchObject({ catchUp: 'dwell', minDwellMs: 90_000 });
    expect(normalizePlan(planSchema.parse({ steps, catchUp: 'immediate' }), flag, NOW)).toMatchObject({ catchUp: 'immediate' });
    const issues = (body: unknown) => planSchema.safeParse(body).error?.issues.map((issue) => [issue.path.join('.'), issue.message]);
    expect(issues({ steps, minDwell: 'soon' })).toEqual([['minDwell', 'is not a duration ("30s", "5m", "PT1M" or milliseconds)']]);
    expect(issues({ steps, minDwell: '400d' })).toEqual([['minDwell', 'is longer than 366 days']]);
    expect(issues({ steps, minDwell: '1m', catchUp: 'immediate' })).toEqual([['minDwell', 'has no effect with catchUp "immediate": overdue steps are applied at once']]);
    expect(issues({ steps, catchUp: 'later' })?.[0]?.[0]).toBe('catchUp');
  });
});
