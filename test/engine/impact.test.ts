import { describe, expect, it } from '@jest/globals';
import { attributeKeeper, attributesRead, compileFlagSet, computeImpact, dependentsOf, type Flag } from '@flagship/engine';
import { validateFlag } from '@flagship/engine/validate';

function flag(input: Record<string, unknown>): Flag {
  const result = validateFlag({ type: 'boolean', defaultValue: false, ...input });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return { ...result.value, state: 'active', version: 1 };
}

const dutch = flag({ key: 'dutch', rules: [{ id: 'nl', conditions: [{ attribute: 'country', op: 'equals', value: 'NL' }], serve: { value: true } }] });
const child = flag({ key: 'child', onValue: true, prerequisites: [{ flagKey: 'dutch', value: true }], rollout: { percentage: 100, bucketBy: 'account.id' } });
const contexts = [
  { userId: 'a', country: 'NL', account: { id: 'x' } },
  { userId: 'b', country: 'DE', account: { id: 'y' } },
  { userId: 'c', country: 'FR' },
];

describe('computeImpact', () => {
  it('counts each (current → proposed) answer over the contexts, for the changed flag and a flag depending on it', () => {
    const proposed = { ...dutch, rules: [{ id: 'nl-de', conditions: [{ attribute: 'country', op: 'in' as const, value: ['NL', 'DE'] }], serve: { value: true } }] };
    const [own, dependent] = computeImpact({
      before: { flags: [dutch, child], segments: [], killswitches: [] },
      after: { flags: [proposed, child], segments: [], killswitches: [] },
      flagKeys: ['dutch', 'child'],
      samples: { dutch: contexts },
      overall: contexts.slice(1),
      examplesPerTransition: 1,
      pseudonymise: (identity) => `p(${identity})`,
    });
    expect(own).toMatchObject({ flagKey: 'dutch', sample: 'flag', sampled: 3, changed: 1, valueChanged: 1, unsampledAttributes: [] });
    expect(own!.transitions.map(({ from, to, count }) => `${from.value}/${from.reason} → ${to.value}/${to.reason}: ${count}`).sort()).toEqual([
      'false/default → false/default: 1',
      'false/default → true/rule: 1',
      'true/rule → true/rule: 1',
    ]);
    // The example is the German context, its identities (userId and the bucketing attribute) pseudonymised.
    expect(own!.transitions.find((transition) => transition.to.reason === 'rule' && transition.from.reason === 'default')!.examples).toEqual([{ userId: 'p(b)', country: 'DE', account: { id: 'p(y)' } }]);
    // child has no sample of its own: the overall one (DE and FR); DE now passes its prerequisite.
    expect(dependent).toMatchObject({ flagKey: 'child', sample: 'overall', sampled: 2, changed: 1, valueChanged: 1 });
    expect(dependent!.summary).toBe('child: moves 50.0% of sampled contexts (1 of 2) to another value, most from false to true');
  });

  it('reports a removed flag as not_found, and attributes the proposed rules read that no context carries', () => {
    const [gone] = computeImpact({
      before: { flags: [dutch], segments: [], killswitches: [] }, after: { flags: [], segments: [], killswitches: [] },
      flagKeys: ['dutch'], samples: {}, overall: contexts, examplesPerTransition: 0, pseudonymise: String,
    });
    expect(gone!.transitions.every((transition) => transition.to.reason === 'not_found')).toBe(true);
    expect(gone!.valueChanged).toBe(3);
    const tiered = { ...dutch, rules: [{ id: 'gold', conditions: [{ attribute: 'tier', op: 'equals' as const, value: 'gold' }], serve: { value: true } }] };
    const [unseen] = computeImpact({
      before: { flags: [dutch], segments: [], killswitches: [] }, after: { flags: [tiered], segments: [], killswitches: [] },
      flagKeys: ['dutch'], samples: {}, overall: contexts, examplesPerTransition: 0, pseudonymise: String,
    });
    expect(unseen!.unsampledAttributes).toEqual(['tier']);
  });
});

describe('what a sample keeps', () => {
  it('reads the attributes of rules, segments and bucketing, plus the identity attributes, and copies only those', () => {
    const set = compileFlagSet({
      flags: [dutch, child, flag({ key: 'beta', rules: [{ id: 'b', conditions: [{ segment: 'testers' }], serve: { value: true } }] })],
      segments: [{ key: 'testers', name: 'Testers', description: '', conditions: [{ attribute: 'team.name', op: 'equals', value: 'qa' }] }],
    });
    const attributes = attributesRead(set);
    expect(attributes).toEqual(['account.id', 'country', 'projectId', 'targetingKey', 'team.name', 'userId']);
    const keep = attributeKeeper(attributes);
    expect(keep({ userId: 'u', email: 'u@example.com', country: 'NL', team: { name: 'qa', lead: 'someone' }, account: { id: 'a', plan: 'pro' } }))
      .toEqual({ userId: 'u', country: 'NL', team: { name: 'qa' }, account: { id: 'a' } });
    expect(keep({ email: 'only@example.com' })).toBeNull();
  });

  it('dependentsOf follows prerequisites transitively', () => {
    expect(dependentsOf([dutch, child, flag({ key: 'grandchild', prerequisites: [{ flagKey: 'child', value: true }] })], ['dutch'])).toEqual(['child', 'dutch', 'grandchild']);
  });
});
