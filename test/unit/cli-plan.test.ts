// The CLI's pure parts: field-by-field diffs, the merge patches apply sends, step and time parsing,
// and which flagd constructs translate.
import { describe, expect, it } from '@jest/globals';
import { definitionPatch } from '../../packages/cli/src/apply.ts';
import { parseSince } from '../../packages/cli/src/commands/audit-commands.ts';
import { parseStep } from '../../packages/cli/src/commands/rollout-commands.ts';
import { translateFlagd } from '../../packages/cli/src/flagd.ts';
import { compact } from '../../packages/cli/src/flag-document.ts';
import { diffDefinitions, mergePatch } from '../../packages/cli/src/plan.ts';

describe('plan and apply arithmetic', () => {
  it('diffs objects by key and equal-length lists element by element, whole otherwise', () => {
    expect(diffDefinitions({ rollout: { percentage: 5 }, tags: ['a'], rules: [{ id: 'r', serve: { value: 1 } }] }, { rollout: { percentage: 25 }, tags: ['a', 'b'], rules: [{ id: 'r', serve: { value: 2 } }] })).toEqual([
      { path: 'rollout.percentage', before: 5, after: 25 },
      { path: 'tags', before: ['a'], after: ['a', 'b'] },
      { path: 'rules[0].serve.value', before: 1, after: 2 },
    ]);
    expect(diffDefinitions({ a: { b: 1 } }, { a: { b: 1 } })).toEqual([]);
  });

  it('patches nested objects key by key, with null for what goes away', () => {
    expect(mergePatch({ A: 1, B: 2 }, { A: 1, C: 3 })).toEqual({ B: null, C: 3 });
    expect(mergePatch({ percentage: 5 }, { distribution: [] })).toEqual({ percentage: null, distribution: [] });
    expect(mergePatch([1], [2])).toEqual([2]);
  });

  it('removes an optional field the document leaves out and resets a defaulted one to its default', () => {
    const server = { key: 'f', type: 'boolean', defaultValue: false, rollout: { percentage: 5 }, tags: ['x'], variants: { A: true, B: false }, killswitch: 'k', highImpact: false };
    expect(definitionPatch('flag', server, { key: 'f', type: 'boolean', defaultValue: false, variants: { A: true } })).toEqual({ tags: [], variants: { B: null }, rollout: null, killswitch: null });
  });

  it('leaves defaults out of exported definitions and orders nested keys', () => {
    expect(Object.keys(compact('flag', { updatedAt: 'x', highImpact: false, rules: [{ serve: { value: true }, conditions: [], id: 'r' }], defaultValue: false, type: 'boolean', key: 'f', enabled: true, tags: [] }))).toEqual(['key', 'type', 'defaultValue', 'rules']);
    expect(Object.keys((compact('flag', { key: 'f', type: 'boolean', defaultValue: false, rules: [{ serve: { value: true }, conditions: [], id: 'r' }] }).rules as object[])[0]!)).toEqual(['id', 'conditions', 'serve']);
  });

  it('reads rollout steps and --since', () => {
    expect(parseStep('25@10m')).toEqual({ percentage: 25, after: '10m' });
    expect(parseStep('100@2025-06-03T14:00:00Z')).toEqual({ percentage: 100, at: '2025-06-03T14:00:00Z' });
    expect(() => parseStep('25')).toThrow('a step is PERCENT@WHEN');
    expect(parseSince('2h', 10_000_000)).toBe(10_000_000 - 7_200_000);
    expect(parseSince('2025-01-01T00:00:00Z', 0)).toBe(Date.parse('2025-01-01T00:00:00Z'));
    expect(() => parseSince('yesterday', 0)).toThrow('--since takes');
  });
});

describe('flagd translation', () => {
  const flag = (targeting: unknown) => ({ flags: { f: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting } } });

  it('translates comparisons it can keep the meaning of', () => {
    const translated = translateFlagd(flag({ if: [{ and: [{ '!=': [{ var: 'plan' }, 'free'] }, { in: ['@corp', { var: 'email' }] }, { '<': [{ var: 'age' }, 65] }] }, 'on', 'off'] }));
    expect(translated.refused).toEqual([]);
    expect(translated.document.flags[0]).toMatchObject({
      rules: [{ id: 'rule-1', conditions: [{ attribute: 'plan', op: 'equals', value: 'free', negate: true }, { attribute: 'email', op: 'contains', value: '@corp' }, { attribute: 'age', op: 'range', value: { max: 65 } }], serve: { variant: 'on' } }],
    });
  });

  it('refuses by name what would evaluate differently', () => {
    const refusal = (targeting: unknown) => translateFlagd(flag(targeting)).refused[0]?.reason;
    expect(refusal({ if: [{ '>': [{ var: 'age' }, 18] }, 'on', 'off'] })).toContain('does not map');
    expect(refusal({ if: [{ '==': [{ var: '$flagd.flagKey' }, 'f'] }, 'on', 'off'] })).toContain('"$flagd.flagKey"');
    expect(refusal({ if: [{ '==': [{ var: 'a' }, 1] }, { cat: ['o', 'n'] }, 'off'] })).toContain('computed variants do not map');
    expect(refusal({ if: [{ sem_ver: [{ var: 'v' }, '^', '1.0.0'] }, 'on', 'off'] })).toContain('does not map');
  });
});
