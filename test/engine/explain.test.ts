import { describe, expect, it } from '@jest/globals';
import { bucketFor, compileFlagSet, evaluate, explain, type ExplanationStep } from '@flagship/engine';
import { compileIdentityReader, identitySource } from '../../src/engine/read-identity.ts';
import { storedFlag, storedSegment } from './support/flags.ts';

const set = compileFlagSet({
  segments: [storedSegment({ key: 'staff', name: 'Staff', conditions: [{ attribute: 'email', op: 'ends_with', value: '@corp.example' }] })],
  flags: [
    storedFlag({ key: 'payments-v2', type: 'boolean', defaultValue: false, rules: [{ id: 'de', conditions: [{ attribute: 'country', op: 'equals', value: 'DE' }], serve: { value: true } }] }),
    storedFlag({
      key: 'checkout', type: 'string', onValue: 'new', offValue: 'old', defaultValue: 'old', variants: { A: 'layout-a', B: 'layout-b' },
      prerequisites: [{ flagKey: 'payments-v2', value: true }],
      denylist: ['user-2'], allowlist: ['project-9'],
      rules: [
        { id: 'staff', conditions: [{ segment: 'staff' }, { attribute: 'plan', op: 'in', value: ['pro'] }], serve: { value: 'staff' } },
        { id: 'split', conditions: [{ attribute: 'beta', op: 'equals', value: true }], serve: { distribution: [{ variant: 'A', weight: 50 }, { variant: 'B', weight: 50 }] } },
      ],
      rollout: { percentage: 25 },
    }, { version: 4 }),
    storedFlag({ key: 'disabled', type: 'boolean', enabled: false, defaultValue: false }),
    storedFlag({ key: 'killed', type: 'boolean', defaultValue: true, offValue: false, killswitch: 'ops' }),
  ],
  killswitches: new Set(['ops']),
});

function steps(flagKey: string, context: Record<string, unknown>): ExplanationStep[] {
  const explanation = explain(set, flagKey, context)!;
  expect(explanation.result).toBe(evaluate(set, flagKey, context));
  // People read it as JSON: it must survive serialization (a Map, a Set, a class or a non-finite
  // number in it would come back different).
  expect(JSON.parse(JSON.stringify(explanation))).toEqual(explanation);
  return [...explanation.steps];
}

describe('explain', () => {
  it('says the flag is off, or killed, and stops there', () => {
    expect(steps('disabled', {})).toEqual([{ step: 'enabled', enabled: false, outcome: 'served', message: 'the flag is disabled: offValue, reason off' }]);
    expect(steps('killed', {}).map((s) => [s.step, s.outcome])).toEqual([['enabled', 'continue'], ['killswitch', 'served']]);
  });

  it('shows a failing prerequisite with its own explanation', () => {
    const trace = steps('checkout', { userId: 'user-1', country: 'FR' });
    expect(trace.map((s) => s.step)).toEqual(['enabled', 'prerequisite']);
    const prerequisite = trace[1] as Extract<ExplanationStep, { step: 'prerequisite' }>;
    expect(prerequisite).toMatchObject({ flagKey: 'payments-v2', required: true, actual: false, met: false, outcome: 'served' });
    expect(prerequisite.explanation!.steps.map((s) => s.step)).toEqual(['enabled', 'rule', 'default']);
  });

  it('shows which list identity matched', () => {
    const trace = steps('checkout', { userId: 'user-2', projectId: 'project-9', country: 'DE' });
    const deny = trace.find((s) => s.step === 'denylist');
    expect(deny).toMatchObject({ matched: { attribute: 'userId', value: 'user-2' }, outcome: 'served' });
    expect(deny).toMatchObject({ checked: [{ attribute: 'userId', value: 'user-2' }, { attribute: 'projectId', value: 'project-9' }] });
  });

  it('traces every condition of every rule tried, with the attribute value and why it held or failed', () => {
    const trace = steps('checkout', { userId: 'user-1', country: 'DE', email: 'ann@corp.example' });
    const rule = trace.find((s) => s.step === 'rule' && s.ruleId === 'staff') as Extract<ExplanationStep, { step: 'rule' }>;
    expect(rule.matched).toBe(false);
    expect(rule.conditions).toEqual([
      {
        kind: 'segment', segment: 'staff', negate: false, found: true, held: true,
        conditions: [expect.objectContaining({ attribute: 'email', actual: 'ann@corp.example', held: true })],
        message: 'the context is in segment "staff", so the condition holds',
      },
      {
        kind: 'attribute', attribute: 'plan', op: 'in', value: ['pro'], negate: false, missing: true, held: false,
        message: 'plan in ["pro"]: the attribute is missing, so the condition fails',
      },
    ]);
  });

  it('gives the bucket and threshold of the rollout', () => {
    const trace = steps('checkout', { userId: 'user-1', country: 'DE' });
    const rollout = trace.at(-1) as Extract<ExplanationStep, { step: 'rollout' }>;
    const bucket = bucketFor('checkout', 'user-1');
    expect(rollout).toMatchObject({ step: 'rollout', kind: 'percentage', salt: 'checkout', bucketBy: 'userId', identity: { attribute: 'userId', value: 'user-1' }, bucket, threshold: 25_000, inRollout: bucket < 25_000 });
  });

  it('gives the bucket and the variant bounds of a distribution', () => {
    const trace = steps('checkout', { targetingKey: 'tk-1', country: 'DE', beta: true });
    const rule = trace.find((s) => s.step === 'rule' && s.ruleId === 'split') as Extract<ExplanationStep, { step: 'rule' }>;
    const bucket = bucketFor('checkout.split', 'tk-1');
    expect(rule.split).toEqual({
      salt: 'checkout.split', bucketBy: 'userId', identity: { attribute: 'targetingKey', value: 'tk-1' }, bucket,
      variants: [{ variant: 'A', upTo: 50_000 }, { variant: 'B', upTo: 100_000 }], variant: bucket < 50_000 ? 'A' : 'B',
    });
  });

  it('says why a distribution or rollout was skipped without identity, then the default', () => {
    const trace = steps('checkout', { country: 'DE', beta: true });
    expect(trace.slice(-3).map((s) => [s.step, s.outcome])).toEqual([['rule', 'continue'], ['rollout', 'continue'], ['default', 'served']]);
    expect(trace.at(-3)!.message).toMatch(/needs an identity/);
  });

  it('answers undefined for a flag that is not in the set', () => {
    expect(explain(set, 'nope', {})).toBeUndefined();
  });
});

describe('the identity explain reports', () => {
  it('is the identity evaluation buckets by, for every fallback', () => {
    const contexts = [
      {}, { userId: 'u' }, { userId: '' , targetingKey: 't' }, { targetingKey: 't', projectId: 'p' }, { projectId: 'p' }, { userId: 7 },
      { userId: true, projectId: 'p' }, { accountId: 'a', userId: 'u' }, { userId: 'u', projectId: 'p' }, { org: { id: 'o' } }, { org: { id: 5 }, projectId: 'p' },
    ];
    for (const bucketBy of [undefined, 'userId', 'accountId', 'org.id', 'projectId', 'targetingKey']) {
      const read = compileIdentityReader(bucketBy);
      for (const context of contexts) expect(identitySource(context, bucketBy)?.value).toBe(read(context));
    }
  });
});
