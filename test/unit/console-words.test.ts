// The console's pure parts, run under Node: a flag in plain words (checked against the evaluation
// order of CONTRACT.md) and the diffs and merge patches it shows before saving.
import { describe, expect, it } from '@jest/globals';
import { applyPatch, diffJson, mergePatch } from '../../src/console/diff.js';
import { conditionParts, evaluationSteps, partsText, staleParts } from '../../src/console/words.js';
import { diffJson as serverDiff } from '../../src/data/json-diff.ts';

const text = (condition: Record<string, unknown>) => partsText(conditionParts(condition));

describe('the console in plain words', () => {
  it('says why a flag is stale, for each reason the API gives', () => {
    expect(partsText(staleParts({ reason: 'not_evaluated', since: '2026-01-02T03:04:05.000Z', lastEvaluatedAt: null }))).toBe('never evaluated since it was created on 2026-01-02');
    expect(partsText(staleParts({ reason: 'not_evaluated', since: '2026-01-02T03:04:05.000Z', lastEvaluatedAt: '2026-01-02T03:04:05.000Z' }))).toBe('not evaluated since 2026-01-02');
    expect(partsText(staleParts({ reason: 'single_value', since: '2026-02-03T00:00:00.000Z', lastEvaluatedAt: '2026-03-01T00:00:00.000Z', value: true }))).toBe('served true to everyone, unchanged since 2026-02-03');
    expect(partsText(staleParts({ reason: 'past_lifetime', since: '2026-04-05T00:00:00.000Z', lastEvaluatedAt: null }))).toBe('past its expected lifetime (created on 2026-04-05)');
  });

  it('says each operator, negated or not, and a missing bound of a range', () => {
    expect(text({ attribute: 'country', op: 'equals', value: 'DE' })).toBe('country is "DE"');
    expect(text({ attribute: 'country', op: 'equals', value: 'DE', negate: true })).toBe('country is not "DE"');
    expect(text({ attribute: 'plan', op: 'in', value: ['pro', 'team'] })).toBe('plan is one of "pro", "team"');
    expect(text({ attribute: 'plan', op: 'in', value: ['free'], negate: true })).toBe('plan is none of "free"');
    expect(text({ attribute: 'email', op: 'ends_with', value: ['@a.com', '@b.com'] })).toBe('email ends with one of "@a.com", "@b.com"');
    expect(text({ attribute: 'age', op: 'range', value: { min: 18, max: 65 } })).toBe('age is a number from 18 up to (not including) 65');
    expect(text({ attribute: 'age', op: 'range', value: { min: 18 }, negate: true })).toBe('age is not a number of at least 18');
    expect(text({ attribute: 'app.version', op: 'semver_gte', value: '2.1.0' })).toBe('app.version is at least version "2.1.0"');
    expect(text({ attribute: 'beta', op: 'exists', negate: true })).toBe('beta is missing');
    expect(text({ segment: 'staff', negate: true })).toBe('the context is not in segment staff');
    expect(conditionParts({ segment: 'staff' })).toContainEqual({ link: '#/segments/staff', text: 'staff' });
  });

  it('lists the steps in the order the engine takes them, with the value each serves', () => {
    const steps = evaluationSteps({
      key: 'layout', type: 'string', enabled: true, defaultValue: 'a', offValue: 'off', onValue: 'b',
      killswitch: 'ui', prerequisites: [{ flagKey: 'base', value: true }], denylist: ['u-2'], allowlist: ['u-1'],
      variants: { A: 'a', B: 'b' },
      rules: [{ id: 'split', conditions: [], serve: { distribution: [{ variant: 'A', weight: 50 }, { variant: 'B', weight: 50 }] } }],
      rollout: { percentage: 10, bucketBy: 'accountId' },
    });
    expect(steps.map((step: { title: string }) => step.title)).toEqual(['Switched on', 'Killswitch', 'Prerequisite', 'Denylist', 'Allowlist', 'Rule 1: split', 'Percentage rollout', 'Default']);
    expect(steps.map((step: { parts: unknown[] }) => partsText(step.parts))).toEqual([
      'The flag is enabled.',
      'If killswitch category ui is engaged, everyone gets the off value "off".',
      'Flag base must answer true for the same context; otherwise the off value "off" (prerequisite failed).',
      'These identities get the off value "off": u-2.',
      'These identities get the on value "b": u-1.',
      'If always (no conditions), split by userId (else targetingKey, else projectId): 50% get variant A "a"; 50% get variant B "b" (contexts without an identity go on to the next step).',
      '10% of identities, by accountId (else projectId), get the on value "b"; the others get the default value "a". A context without an identity skips this step.',
      'Everyone else gets the default value "a".',
    ]);
  });

  it('says a disabled flag serves its off value, which defaults to the default value', () => {
    const [first] = evaluationSteps({ key: 'x', type: 'boolean', enabled: false, defaultValue: false, rules: [] });
    expect(partsText(first!.parts)).toBe('The flag is disabled: everyone gets the off value false. Nothing below applies until it is enabled.');
  });
});

describe('the console\'s diffs and patches', () => {
  const before = { description: 'old', tags: ['a'], rollout: { percentage: 5 }, rules: [{ id: 'r', conditions: [] }], killswitch: 'jobs' };
  const after = { description: 'new', tags: ['a', 'b'], rollout: { percentage: 25 }, rules: [{ id: 'r', conditions: [] }] };

  it('diffs leaves exactly as the audit log does', () => {
    expect(diffJson(before, after)).toEqual(serverDiff(before, after));
    expect(diffJson(before, after)).toEqual([
      { path: 'description', before: 'old', after: 'new' },
      { path: 'killswitch', before: 'jobs' },
      { path: 'rollout.percentage', before: 5, after: 25 },
      { path: 'tags', before: ['a'], after: ['a', 'b'] },
    ]);
  });

  it('patches only changed fields, removes with null, ignores key order, and the patch applied gives the edited document', () => {
    const patch = mergePatch(before, { ...after, rules: [{ conditions: [], id: 'r' }] });
    expect(patch).toEqual({ description: 'new', tags: ['a', 'b'], rollout: { percentage: 25 }, killswitch: null });
    expect(applyPatch(before, patch)).toEqual(after);
  });
});
