import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import {
  findPrerequisiteCycle,
  type FlagDefinition,
  type Prerequisite,
} from '@flagship/engine';
import {
  checkFlagReferences,
  flagInputSchema,
  segmentInputSchema,
  validateFlag,
  type FlagWorldEntry,
} from '@flagship/engine/validate';

function valid(input: unknown): FlagDefinition {
  const result = validateFlag(input);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.value;
}

describe('schemas', () => {
  it('generate a JSON Schema (the OpenAPI document is built from them)', () => {
    const flag = z.toJSONSchema(flagInputSchema, { io: 'input' }) as { properties: Record<string, { pattern?: string; default?: unknown }>; required: string[] };
    expect(flag.required.sort()).toEqual(['defaultValue', 'key', 'type']);
    expect(flag.properties.key!.pattern).toBe('^[a-z0-9][a-z0-9._-]{0,127}$');
    expect(flag.properties.enabled!.default).toBe(true);
    expect(() => z.toJSONSchema(segmentInputSchema, { io: 'input' })).not.toThrow();
  });
});

describe('validateFlag', () => {
  it('answers any input with issues, never an exception', () => {
    for (const input of [null, undefined, 'flag', 42, [], { key: 7 }]) {
      const result = validateFlag(input);
      expect(result.ok).toBe(false);
    }
    const result = validateFlag(null);
    expect(result.ok ? null : result.issues[0]!.path).toBe('');
  });

  it('reports every problem it can find at once, with paths', () => {
    const result = validateFlag({
      key: 'multi', type: 'string', defaultValue: 'x', variants: { A: 'a' },
      rules: [
        { id: 'one', conditions: [{ attribute: 'a', op: 'equals', value: 'b' }, { attribute: 'email', op: 'regex', value: '(' }], serve: { variant: 'Z' } },
        { id: 'one', conditions: [], serve: { value: 1 } },
      ],
    });
    expect(result.ok ? [] : result.issues.map((i) => i.path)).toEqual([
      'rules[0].conditions[1].value',
      'rules[0].serve.variant',
      'rules[1].id',
      'rules[1].serve.value',
    ]);
  });

  it('caps JSON values at 32 KiB by default, configurably', () => {
    const big = { key: 'big', type: 'json', defaultValue: { text: 'é'.repeat(10_000) } }; // 20,011 bytes of UTF-8 JSON
    expect(validateFlag(big).ok).toBe(true);
    const capped = validateFlag(big, { maxJsonBytes: 16 * 1024 });
    expect(capped.ok ? '' : capped.issues[0]!.message).toBe('is 20011 bytes as JSON; the limit is 16384');
  });

  it('accepts every value type where it belongs', () => {
    expect(valid({ key: 'n', type: 'number', defaultValue: 0, onValue: -1.5, rollout: { percentage: 99.999 } }).onValue).toBe(-1.5);
    expect(valid({ key: 'j', type: 'json', defaultValue: [], offValue: { a: null } }).offValue).toEqual({ a: null });
  });

  it('does not mutate its input', () => {
    const input = { key: 'pure', type: 'boolean', defaultValue: false };
    const copy = structuredClone(input);
    valid(input);
    expect(input).toEqual(copy);
  });
});

describe('checkFlagReferences', () => {
  const world = {
    flags: new Map<string, FlagWorldEntry>([
      ['payments-v2', { key: 'payments-v2', state: 'active', prerequisites: [], type: 'boolean' }],
      ['old-thing', { key: 'old-thing', state: 'archived', prerequisites: [] }],
      ['theme', { key: 'theme', state: 'active', prerequisites: [] }],
    ]),
    segments: new Set(['beta-users']),
  };

  it('accepts references to active flags and existing segments', () => {
    const flag = valid({
      key: 'ok', type: 'boolean', defaultValue: false,
      prerequisites: [{ flagKey: 'payments-v2', value: true }, { flagKey: 'theme', value: 'dark' }],
      rules: [{ id: 'r', conditions: [{ segment: 'beta-users' }], serve: { value: true } }],
    });
    expect(checkFlagReferences(flag, world)).toEqual([]);
    expect(checkFlagReferences(flag, { ...world, segments: new Map([['beta-users', {}]]) })).toEqual([]);
  });

  it('refuses missing and archived prerequisites, wrongly typed required values, unknown segments', () => {
    const flag = valid({
      key: 'bad', type: 'boolean', defaultValue: false,
      prerequisites: [{ flagKey: 'nope', value: true }, { flagKey: 'old-thing', value: true }, { flagKey: 'payments-v2', value: 'yes' }],
      rules: [{ id: 'r', conditions: [{ attribute: 'a', op: 'exists' }, { segment: 'gone', negate: true }], serve: { value: true } }],
    });
    expect(checkFlagReferences(flag, world)).toEqual([
      { path: 'prerequisites[0].flagKey', message: 'flag "nope" does not exist' },
      { path: 'prerequisites[1].flagKey', message: 'flag "old-thing" is archived' },
      { path: 'prerequisites[2].value', message: 'expected a boolean ("payments-v2" is a boolean flag), got "yes"' },
      { path: 'rules[0].conditions[1].segment', message: 'segment "gone" does not exist' },
    ]);
  });
});

describe('findPrerequisiteCycle', () => {
  it('walks a chain of 20,000 flags without overflowing the stack', () => {
    const flags = new Map<string, { prerequisites: Prerequisite[] }>();
    for (let i = 0; i < 20_000; i++) flags.set(`f${i}`, { prerequisites: i + 1 < 20_000 ? [{ flagKey: `f${i + 1}`, value: true }] : [] });
    const cycle = findPrerequisiteCycle(flags, { key: 'f19999', prerequisites: [{ flagKey: 'f0', value: true }] });
    expect(cycle).toHaveLength(20_001);
    expect(cycle![0]).toBe('f19999');
    expect(cycle![1]).toBe('f0');
    expect(cycle!.at(-1)).toBe('f19999');
    expect(findPrerequisiteCycle(flags, { key: 'f0', prerequisites: [{ flagKey: 'f1', value: true }] })).toBeNull();
  });

  it('ignores a loop elsewhere in the stored graph that the change does not touch', () => {
    const flags = new Map([
      ['x', { prerequisites: [{ flagKey: 'y', value: true }] }],
      ['y', { prerequisites: [{ flagKey: 'x', value: true }] }],
    ]);
    expect(findPrerequisiteCycle(flags, { key: 'z', prerequisites: [{ flagKey: 'x', value: true }] })).toBeNull();
  });
});
