import { describe, expect, it } from '@jest/globals';
import { OPERATORS } from '@flagship/engine';
import { attributeConditionSchema } from '@flagship/engine/validate';
import { operators } from '../../src/engine/operators.ts';
import { parseInstant } from '../../src/engine/parse-instant.ts';
import { compareSemver, parseSemver, type Semver } from '../../src/engine/parse-semver.ts';

describe('the operator table', () => {
  it('implements exactly the operators the types and the schema declare', () => {
    expect(Object.keys(operators).sort()).toEqual([...OPERATORS].sort());
    const schemaOps = attributeConditionSchema.options.map((option) => option.shape.op.value);
    expect([...schemaOps].sort()).toEqual([...OPERATORS].sort());
  });

  it('says for each operator what a missing attribute does: false, and false negated, except exists', () => {
    for (const op of OPERATORS) {
      expect(operators[op].missing.held).toBe(false);
      expect(operators[op].missing.negatedHeld).toBe(op === 'exists');
    }
  });
});

describe('semantic versions', () => {
  const parse = (text: string): Semver => {
    const version = parseSemver(text);
    if (version === null) throw new Error(`${text} does not parse`);
    return version;
  };

  it('orders versions as semver 2.0.0 section 11 does', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '1.10.0', '2.0.0'];
    for (let i = 0; i < ordered.length - 1; i++) {
      expect(compareSemver(parse(ordered[i]!), parse(ordered[i + 1]!))).toBeLessThan(0);
      expect(compareSemver(parse(ordered[i + 1]!), parse(ordered[i]!))).toBeGreaterThan(0);
    }
  });

  it('fills missing minor and patch, ignores build metadata, refuses junk', () => {
    expect(compareSemver(parse('2'), parse('2.0.0'))).toBe(0);
    expect(compareSemver(parse('2.1'), parse('2.1.0'))).toBe(0);
    expect(compareSemver(parse('1.2.3+build.5'), parse('1.2.3'))).toBe(0);
    for (const junk of ['', 'v1.2.3', '1.2.3.4', '1..2', '1.2.3-', '1.2.3+', '1.2.3-a..b', 'latest', '1.2.x', '-1.0.0', '1.2.3-bad!']) {
      expect(parseSemver(junk)).toBeNull();
    }
  });
});

describe('instants', () => {
  it('reads dates as UTC midnight, applies zone offsets, and takes epoch milliseconds', () => {
    expect(parseInstant('2024-01-01')).toBe(Date.UTC(2024, 0, 1));
    expect(parseInstant('2024-01-01T01:00:00+02:00')).toBe(Date.UTC(2023, 11, 31, 23));
    expect(parseInstant('2024-02-29T12:30:15.250Z')).toBe(Date.UTC(2024, 1, 29, 12, 30, 15, 250));
    expect(parseInstant(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(new Date(parseInstant('0050-06-01')!).toISOString()).toBe('0050-06-01T00:00:00.000Z'); // year 50, not 1950
  });

  it('refuses what would depend on the machine or is not a date', () => {
    for (const value of ['2024-01-01T10:00:00', '2023-02-29', '2024-13-01', '2024-01-01T24:00:00Z', 'yesterday', '', Number.NaN, Infinity, null, true]) {
      expect(parseInstant(value)).toBeNull();
    }
  });
});
