import { describe, expect, it } from '@jest/globals';
import { compileFlagSet, evaluate, evaluateAll, MAX_PREREQUISITE_DEPTH, type Flag } from '@flagship/engine';
import { storedFlag, storedSegment } from './support/flags.ts';

const beta = storedSegment({ key: 'beta', name: 'Beta', conditions: [{ attribute: 'email', op: 'ends_with', value: '@example.com' }] });
const usesBeta = storedFlag({ key: 'uses-beta', type: 'boolean', defaultValue: false, rules: [{ id: 'b', conditions: [{ segment: 'beta' }], serve: { value: true } }] });
const notBeta = storedFlag({ key: 'not-beta', type: 'boolean', defaultValue: false, rules: [{ id: 'nb', conditions: [{ segment: 'beta', negate: true }], serve: { value: true } }] });
const plain = storedFlag({ key: 'plain', type: 'boolean', defaultValue: true });
const killable = storedFlag({ key: 'killable', type: 'string', defaultValue: 'running', offValue: 'stopped', killswitch: 'jobs' });

function baseSet() {
  return compileFlagSet({ flags: [usesBeta, notBeta, plain, killable], segments: [beta] });
}

describe('compileFlagSet', () => {
  it('leaves archived flags out', () => {
    const set = compileFlagSet({ flags: [plain, { ...usesBeta, state: 'archived' }], segments: [beta] });
    expect([...set.keys()]).toEqual(['plain']);
    expect(set.size).toBe(1);
    expect(set.has('uses-beta')).toBe(false);
    expect(evaluate(set, 'uses-beta', {})).toBeUndefined();
  });

  it('is immutable: withFlag returns a new set and recompiles only the changed flag', () => {
    const before = baseSet();
    const changed = storedFlag({ key: 'plain', type: 'boolean', defaultValue: false }, { version: 2 });
    const after = before.withFlag(changed);
    expect(after).not.toBe(before);
    expect(evaluate(before, 'plain', {})!.value).toBe(true);
    expect(evaluate(after, 'plain', {})).toEqual({ flagKey: 'plain', value: false, variant: null, reason: 'default', flagVersion: 2 });
    for (const key of ['uses-beta', 'not-beta', 'killable']) expect(after.get(key)).toBe(before.get(key));
    expect(Object.isFrozen(after)).toBe(true);
  });

  it('adds a new flag at the end, removes an archived one, and withoutFlag removes', () => {
    const set = baseSet();
    const added = set.withFlag(storedFlag({ key: 'new-one', type: 'number', defaultValue: 3 }));
    expect([...added.keys()]).toEqual(['uses-beta', 'not-beta', 'plain', 'killable', 'new-one']);
    expect(added.withFlag({ ...plain, state: 'archived', version: 2 }).has('plain')).toBe(false);
    expect(added.withoutFlag('new-one').size).toBe(4);
    expect(set.withoutFlag('missing')).toBe(set);
  });

  it('withFlags applies a batch as withFlag one by one would: changed, added and archived flags, the rest untouched', () => {
    const before = baseSet();
    const batch = [
      storedFlag({ key: 'plain', type: 'boolean', defaultValue: false }, { version: 2 }),
      storedFlag({ key: 'new-one', type: 'number', defaultValue: 3 }),
      { ...killable, state: 'archived' as const, version: 2 },
    ];
    const batched = before.withFlags(batch);
    const oneByOne = batch.reduce((set, flag) => set.withFlag(flag), before);
    expect([...batched.keys()]).toEqual([...oneByOne.keys()]);
    expect([...batched.keys()]).toEqual(['uses-beta', 'not-beta', 'plain', 'new-one']);
    for (const key of batched.keys()) expect(evaluate(batched, key, { email: 'a@example.com' })).toEqual(evaluate(oneByOne, key, { email: 'a@example.com' }));
    expect(batched.get('uses-beta')).toBe(before.get('uses-beta'));
    expect(before.has('killable')).toBe(true);
    expect(evaluate(before, 'plain', {})!.value).toBe(true);
  });

  it('withSegment recompiles exactly the flags that use the segment', () => {
    const before = baseSet();
    const after = before.withSegment(storedSegment({ key: 'beta', name: 'Beta', conditions: [{ attribute: 'email', op: 'ends_with', value: '@beta.example.com' }] }));
    expect(after.get('plain')).toBe(before.get('plain'));
    expect(after.get('killable')).toBe(before.get('killable'));
    expect(after.get('uses-beta')).not.toBe(before.get('uses-beta'));
    expect(after.get('not-beta')).not.toBe(before.get('not-beta'));
    expect(evaluate(before, 'uses-beta', { email: 'a@example.com' })!.value).toBe(true);
    expect(evaluate(after, 'uses-beta', { email: 'a@example.com' })!.value).toBe(false);
    expect(evaluate(after, 'uses-beta', { email: 'a@beta.example.com' })!.value).toBe(true);
  });

  it('a segment that disappears fails closed, negated or not', () => {
    const set = baseSet().withoutSegment('beta');
    expect(evaluate(set, 'uses-beta', { email: 'a@example.com' })!.reason).toBe('default');
    expect(evaluate(set, 'not-beta', { email: 'a@other.org' })!.reason).toBe('default');
  });

  it('withKillswitches turns the category off without recompiling, and copies the caller\'s set', () => {
    const engaged = new Set(['jobs']);
    const before = baseSet();
    const killed = before.withKillswitches(engaged);
    expect(killed.get('killable')).toBe(before.get('killable'));
    expect(evaluate(killed, 'killable', {})).toEqual({ flagKey: 'killable', value: 'stopped', variant: null, reason: 'off', flagVersion: 1 });
    engaged.delete('jobs');
    expect(evaluate(killed, 'killable', {})!.reason).toBe('off');
    expect(evaluate(killed.withKillswitches(new Set()), 'killable', {})!.reason).toBe('default');
    expect(evaluate(compileFlagSet({ flags: [killable], segments: [], killswitches: new Set(['jobs']) }), 'killable', {})!.reason).toBe('off');
  });
});

describe('results', () => {
  it('are shared, frozen objects: evaluation allocates none, and nobody can alter them', () => {
    const input = { key: 'cfg', type: 'json', defaultValue: { limits: { rps: 10 } } };
    const flag = storedFlag(input);
    const set = compileFlagSet({ flags: [flag], segments: [] });
    const first = evaluate(set, 'cfg', { userId: 'a' })!;
    expect(evaluate(set, 'cfg', { userId: 'b' })).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen((first.value as { limits: object }).limits)).toBe(true);
    // The caller's flag is neither frozen nor shared with the result.
    expect(Object.isFrozen(flag.defaultValue)).toBe(false);
    expect(first.value).not.toBe(flag.defaultValue);
    expect(JSON.parse(JSON.stringify(first))).toEqual({ flagKey: 'cfg', value: { limits: { rps: 10 } }, variant: null, reason: 'default', flagVersion: 1 });
  });
});

describe('evaluateAll', () => {
  it('evaluates every flag in the set\'s order, or the given keys in the given order, skipping unknown ones', () => {
    const set = baseSet();
    expect(evaluateAll(set, { email: 'a@example.com' }).map((r) => [r.flagKey, r.value])).toEqual([
      ['uses-beta', true],
      ['not-beta', false],
      ['plain', true],
      ['killable', 'running'],
    ]);
    expect(evaluateAll(set, {}, ['plain', 'nope', 'uses-beta']).map((r) => r.flagKey)).toEqual(['plain', 'uses-beta']);
  });
});

describe('prerequisite depth guard', () => {
  it('keeps evaluation total even when a cycle slipped into a compiled set', () => {
    const a: Flag = { ...storedFlag({ key: 'loop-a', type: 'boolean', defaultValue: true, offValue: false }), prerequisites: [{ flagKey: 'loop-b', value: true }] };
    const b: Flag = { ...storedFlag({ key: 'loop-b', type: 'boolean', defaultValue: true, offValue: false }), prerequisites: [{ flagKey: 'loop-a', value: true }] };
    const set = compileFlagSet({ flags: [a, b], segments: [] });
    const result = evaluate(set, 'loop-a', {});
    expect(result!.reason).toBe('prerequisite_failed');
    expect(MAX_PREREQUISITE_DEPTH).toBeGreaterThanOrEqual(16);
  });
});

describe('compilation of invalid flags', () => {
  it('throws: only validated flags are compiled, so this is a programmer error', () => {
    const broken = { ...plain, rules: [{ id: 'r', conditions: [], serve: { variant: 'missing' } }] } as Flag;
    expect(() => compileFlagSet({ flags: [broken], segments: [] })).toThrow(/variant "missing"/);
  });
});

describe('contexts from careless JavaScript callers', () => {
  it('treats a non-object context as an empty one instead of throwing', () => {
    const set = compileFlagSet({ flags: [usesBeta, storedFlag({ key: 'r', type: 'boolean', defaultValue: false, rollout: { percentage: 50 } })], segments: [beta] });
    for (const context of [null, undefined, 'user-1', 42]) {
      expect(evaluate(set, 'uses-beta', context as never)!.reason).toBe('default');
      expect(evaluate(set, 'r', context as never)!.reason).toBe('default');
      expect(evaluateAll(set, context as never)).toHaveLength(2);
    }
  });
});
