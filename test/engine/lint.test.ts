import { describe, expect, it } from '@jest/globals';
import { type FlagDefinition, type SegmentDefinition } from '@flagship/engine';
import { lintFlag, lintSegment, WARNING_CODES, type WarningCode } from '@flagship/engine/validate';
import { validateFlag, validateSegment } from '@flagship/engine/validate';

function flag(input: Record<string, unknown>): FlagDefinition {
  const result = validateFlag({ key: 'lint-me', type: 'boolean', defaultValue: false, ...input });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.value;
}

function segment(input: Record<string, unknown>): SegmentDefinition {
  const result = validateSegment({ key: 'beta', name: 'Beta', ...input });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.value;
}

const codes = (warnings: readonly { code: WarningCode }[]) => warnings.map((warning) => warning.code);

/** A flag that uses every feature the linter looks at, and none of it badly. */
const clean = flag({
  description: 'New checkout for the beta cohort',
  rules: [
    { id: 'nl-beta', conditions: [{ attribute: 'country', op: 'in', value: ['NL', 'DE'] }, { attribute: 'plan', op: 'equals', value: 'pro' }], serve: { value: true } },
    { id: 'de', conditions: [{ attribute: 'country', op: 'equals', value: 'DE' }, { attribute: 'age', op: 'range', value: { min: 18, max: 65 } }], serve: { value: true } },
    { id: 'uuid-id', conditions: [{ attribute: 'tenant', op: 'equals', value: '0b7e8a4c-2f35-4c39-9d1e-5c8a7b6d4e21' }], serve: { value: true } },
  ],
  rollout: { percentage: 25 },
});

describe('lintFlag', () => {
  it('finds nothing in a clean flag, even with a sample that carries its bucketing attribute', () => {
    expect(lintFlag(clean, { sampledAttributes: new Set(['userId', 'country']) })).toEqual([]);
  });

  it('names every code it has in this file', () => {
    expect([...WARNING_CODES].sort()).toEqual(['bucket_attribute_unseen', 'json_value_near_cap', 'personal_data', 'rule_never_matches', 'rule_unreachable', 'secret_like_value', 'segment_unused']);
  });

  it.each([
    ['disjoint in and equals', [{ attribute: 'country', op: 'in', value: ['NL'] }, { attribute: 'country', op: 'equals', value: 'DE' }]],
    ['a condition and its negation', [{ attribute: 'plan', op: 'equals', value: 'pro' }, { attribute: 'plan', op: 'equals', value: 'pro', negate: true }]],
    ['ranges that do not overlap', [{ attribute: 'age', op: 'range', value: { min: 30 } }, { attribute: 'age', op: 'range', value: { max: 20 } }]],
    ['an equals outside a range', [{ attribute: 'age', op: 'equals', value: 10 }, { attribute: 'age', op: 'range', value: { min: 18 } }]],
    ['a segment required and excluded', [{ segment: 'beta' }, { segment: 'beta', negate: true }]],
  ])('rule_never_matches: %s', (_, conditions) => {
    const warnings = lintFlag(flag({ rules: [{ id: 'never', conditions, serve: { value: true } }] }));
    expect(warnings).toEqual([expect.objectContaining({ code: 'rule_never_matches', path: 'rules[0]', message: expect.stringContaining('"never" can never match') })]);
  });

  it('rule_unreachable: an earlier rule with a subset of the conditions serves a fixed answer first', () => {
    const warnings = lintFlag(flag({
      rules: [
        { id: 'dutch', conditions: [{ attribute: 'country', op: 'equals', value: 'NL' }], serve: { value: true } },
        { id: 'dutch-pro', conditions: [{ attribute: 'plan', op: 'equals', value: 'pro' }, { attribute: 'country', op: 'equals', value: 'NL' }], serve: { value: false } },
      ],
    }));
    expect(warnings).toEqual([{ code: 'rule_unreachable', path: 'rules[1]', message: 'rule "dutch-pro" is never reached: rule "dutch" before it matches every context it would' }]);
  });

  it('rule_unreachable does not fire behind a distribution, which is skipped without an identity', () => {
    const warnings = lintFlag(flag({
      type: 'string', defaultValue: 'a', variants: { a: 'a', b: 'b' },
      rules: [
        { id: 'split', conditions: [{ attribute: 'country', op: 'equals', value: 'NL' }], serve: { distribution: [{ variant: 'a', weight: 50 }, { variant: 'b', weight: 50 }] } },
        { id: 'fallback', conditions: [{ attribute: 'country', op: 'equals', value: 'NL' }], serve: { variant: 'b' } },
      ],
    }));
    expect(codes(warnings)).toEqual([]);
  });

  it('json_value_near_cap: a JSON value at 90% of the cap', () => {
    const big = { blob: 'x'.repeat(30_000) };
    const warnings = lintFlag(flag({ type: 'json', defaultValue: {}, variants: { big } }));
    expect(warnings).toEqual([expect.objectContaining({ code: 'json_value_near_cap', path: 'variants.big' })]);
    expect(lintFlag(flag({ type: 'json', defaultValue: { blob: 'x'.repeat(20_000) } }))).toEqual([]);
  });

  it('personal_data: an e-mail address in the description or a served value', () => {
    expect(lintFlag(flag({ description: 'ask jane.doe@example.com' }))).toEqual([expect.objectContaining({ code: 'personal_data', path: 'description' })]);
    const warnings = lintFlag(flag({ type: 'json', defaultValue: { contact: { to: ['ops@example.org'] } } }));
    expect(warnings).toEqual([expect.objectContaining({ code: 'personal_data', path: 'defaultValue.contact.to[0]' })]);
  });

  it.each([
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'],
    ['a Stripe key', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
    ['an AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
    ['a generated secret', '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'],
  ])('secret_like_value: %s', (_, secret) => {
    const warnings = lintFlag(flag({ type: 'string', defaultValue: 'none', onValue: secret }));
    expect(warnings).toEqual([expect.objectContaining({ code: 'secret_like_value', path: 'onValue' })]);
  });

  it('bucket_attribute_unseen: a rollout and a distribution bucketing by attributes no sampled context carries', () => {
    const definition = flag({
      type: 'string', defaultValue: 'a', onValue: 'b', variants: { a: 'a', b: 'b' },
      rules: [{ id: 'split', conditions: [{ attribute: 'country', op: 'equals', value: 'NL' }], serve: { distribution: [{ variant: 'a', weight: 50 }, { variant: 'b', weight: 50 }], bucketBy: 'accountId' } }],
      rollout: { percentage: 10 },
    });
    const warnings = lintFlag(definition, { sampledAttributes: new Set(['targetingKey', 'country']) });
    expect(warnings).toEqual([expect.objectContaining({ code: 'bucket_attribute_unseen', path: 'rules[0].serve.bucketBy', message: expect.stringContaining('"accountId"') })]);
    expect(codes(lintFlag(definition, { sampledAttributes: new Set(['country']) }))).toEqual(['bucket_attribute_unseen', 'bucket_attribute_unseen']);
    // A nested bucketing path counts as carried when its top-level object is.
    expect(lintFlag(flag({ rollout: { percentage: 10, bucketBy: 'account.id' } }), { sampledAttributes: new Set(['account']) })).toEqual([]);
    // No sample proves nothing.
    expect(lintFlag(definition, { sampledAttributes: new Set() })).toEqual([]);
  });
});

describe('lintSegment', () => {
  it('finds nothing in a used, satisfiable segment', () => {
    expect(lintSegment(segment({ conditions: [{ attribute: 'plan', op: 'equals', value: 'beta' }] }), ['lint-me'])).toEqual([]);
  });

  it('segment_unused: no active flag refers to it', () => {
    expect(lintSegment(segment({ conditions: [{ attribute: 'plan', op: 'equals', value: 'beta' }] }), [])).toEqual([{ code: 'segment_unused', path: 'key', message: 'no active flag uses segment "beta"' }]);
  });

  it('rule_never_matches and personal_data on a segment', () => {
    const warnings = lintSegment(segment({ description: 'owner: a@b.io', conditions: [{ attribute: 'plan', op: 'in', value: ['a'] }, { attribute: 'plan', op: 'in', value: ['b'] }] }), ['lint-me']);
    expect(codes(warnings)).toEqual(['rule_never_matches', 'personal_data']);
  });
});
