import { describe, expect, it } from '@jest/globals';
import { compileFlagSet, evaluate, type EvaluationResult, type Flag } from '@flagship/engine';
import { seededRandom, uuidFrom } from './support/seeded-random.ts';

/** A stored boolean flag with defaults filled, as validateFlag would leave it. */
function flag(key: string, extra: Partial<Flag> = {}): Flag {
  return {
    key, type: 'boolean', description: '', tags: [], enabled: true, onValue: true, offValue: false, defaultValue: false,
    variants: {}, allowlist: [], denylist: [], prerequisites: [], rules: [], highImpact: false, state: 'active', version: 1, ...extra,
  };
}

const random = seededRandom(20240601);
const identities = Array.from({ length: 100_000 }, () => uuidFrom(random));

function inRollout(result: EvaluationResult | undefined): boolean {
  if (result?.reason !== 'percentage') throw new Error(`expected a percentage result, got ${JSON.stringify(result)}`);
  return result.inRollout === true;
}

describe('rollout properties', () => {
  it('raising the percentage never takes anyone out', () => {
    const percentages = [0, 0.001, 0.5, 1, 5, 12.345, 25, 33.333, 50, 75.5, 99.999, 100];
    let previous: boolean[] | null = null;
    for (const percentage of percentages) {
      const set = compileFlagSet({ flags: [flag('prop-monotone', { rollout: { percentage } })], segments: [] });
      const current = identities.slice(0, 20_000).map((userId) => inRollout(evaluate(set, 'prop-monotone', { userId })));
      if (previous !== null) {
        const removed = previous.filter((was, i) => was && !current[i]).length;
        expect(removed).toBe(0);
      }
      previous = current;
    }
    expect(previous!.every(Boolean)).toBe(true);
  });

  it('a 25% rollout over 100,000 identities lands within half a point of 25%', () => {
    const set = compileFlagSet({ flags: [flag('prop-quarter', { rollout: { percentage: 25 } })], segments: [] });
    const share = (identities.filter((userId) => inRollout(evaluate(set, 'prop-quarter', { userId }))).length / identities.length) * 100;
    expect(Math.abs(share - 25)).toBeLessThan(0.5);
  });

  it('a 50/30/20 split lands within half a point of each share, in a rollout and in a rule', () => {
    const distribution = [
      { variant: 'A', weight: 50 },
      { variant: 'B', weight: 30 },
      { variant: 'C', weight: 20 },
    ];
    const base = { type: 'string' as const, onValue: 'on', offValue: 'off', defaultValue: 'none', variants: { A: 'a', B: 'b', C: 'c' } };
    const set = compileFlagSet({
      flags: [
        flag('prop-split', { ...base, rollout: { distribution } }),
        flag('prop-rule-split', { ...base, rules: [{ id: 'all', conditions: [], serve: { distribution } }] }),
      ],
      segments: [],
    });
    for (const key of ['prop-split', 'prop-rule-split']) {
      const counts: Record<string, number> = { A: 0, B: 0, C: 0 };
      for (const userId of identities) counts[evaluate(set, key, { userId })!.variant!]! += 1;
      expect(Math.abs((counts.A! / identities.length) * 100 - 50)).toBeLessThan(0.5);
      expect(Math.abs((counts.B! / identities.length) * 100 - 30)).toBeLessThan(0.5);
      expect(Math.abs((counts.C! / identities.length) * 100 - 20)).toBeLessThan(0.5);
    }
  });

  it('the same identity always gets the same answer: repeated, after recompiling, and across versions', () => {
    const definition = flag('prop-stable', { rollout: { percentage: 40 } });
    const first = compileFlagSet({ flags: [definition], segments: [] });
    const again = compileFlagSet({ flags: [definition], segments: [] });
    const bumped = compileFlagSet({ flags: [{ ...definition, version: 9, description: 'edited' }], segments: [] });
    for (const userId of identities.slice(0, 10_000)) {
      const a = evaluate(first, 'prop-stable', { userId })!;
      expect(evaluate(first, 'prop-stable', { userId })).toBe(a);
      expect(evaluate(again, 'prop-stable', { userId })).toEqual(a);
      expect(evaluate(bumped, 'prop-stable', { userId })!.inRollout).toBe(a.inRollout);
    }
  });

  it('two flags bucket independently: membership in one says nothing about the other', () => {
    const set = compileFlagSet({
      flags: [flag('prop-first', { rollout: { percentage: 50 } }), flag('prop-second', { rollout: { percentage: 50 } })],
      segments: [],
    });
    let both = 0;
    let onlyFirst = 0;
    let onlySecond = 0;
    for (const userId of identities) {
      const a = inRollout(evaluate(set, 'prop-first', { userId }));
      const b = inRollout(evaluate(set, 'prop-second', { userId }));
      if (a && b) both++;
      else if (a) onlyFirst++;
      else if (b) onlySecond++;
    }
    const neither = identities.length - both - onlyFirst - onlySecond;
    for (const quadrant of [both, onlyFirst, onlySecond, neither]) {
      expect(Math.abs((quadrant / identities.length) * 100 - 25)).toBeLessThan(0.5);
    }
  });
});
