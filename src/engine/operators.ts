import { compileRegex, regexError } from './compile-regex.ts';
import { parseInstant } from './parse-instant.ts';
import { compareSemver, parseSemver, type Semver } from './parse-semver.ts';
import type { Operator, OperatorValues, RangeValue, Scalar } from './types.ts';

/**
 * The operator table. Each operator compiles its condition value once into a test of a *present*
 * attribute value, and says what a *missing* one (absent, `undefined` or `null`) does.
 *
 * Missing attributes follow LaunchDarkly: the condition is false, and stays false when negated, for
 * every operator except `exists` (negated `exists` is how to say "the attribute is missing").
 * A present attribute of the wrong type (a number for `regex`, say) simply fails the test, so the
 * negated condition holds. Values are never coerced: `"5"` does not equal `5`.
 */

/** Tests a present attribute value (never `undefined` or `null`) against the compiled condition value. */
export type AttributeTest = (actual: unknown) => boolean;

export interface MissingAttribute {
  /** The condition's result when the attribute is missing. Always false: the contract says so. */
  readonly held: false;
  /** The negated condition's result when the attribute is missing. */
  readonly negatedHeld: boolean;
}

export interface OperatorFn<V> {
  readonly missing: MissingAttribute;
  /** Why a value is refused at write time (the schema has already checked its shape), or null. */
  check(value: V): string | null;
  /** Compiles a checked value into the test of a present attribute. */
  compile(value: V): AttributeTest;
}

type OperatorTable = { readonly [K in Operator]: OperatorFn<OperatorValues[K]> };

/** Missing attribute: false, and false when negated too. */
const FALSE_EVEN_NEGATED: MissingAttribute = { held: false, negatedHeld: false };

// Below this many values a linear scan beats hashing the attribute for a Set lookup.
const IN_SCAN_LIMIT = 8;

function noCheck(): null {
  return null;
}

function inTest(values: readonly Scalar[]): AttributeTest {
  if (values.length === 1) {
    const only = values[0];
    return (actual) => actual === only;
  }
  if (values.length <= IN_SCAN_LIMIT) {
    return (actual) => {
      for (let i = 0; i < values.length; i++) if (values[i] === actual) return true;
      return false;
    };
  }
  // Set membership is SameValueZero: typed like ===, so "1" and 1 stay distinct.
  const set = new Set<unknown>(values);
  return (actual) => set.has(actual);
}

function stringTest(value: string | readonly string[], test: (actual: string, expected: string) => boolean): AttributeTest {
  if (typeof value === 'string') return (actual) => typeof actual === 'string' && test(actual, value);
  return (actual) => {
    if (typeof actual !== 'string') return false;
    for (const expected of value) if (test(actual, expected)) return true;
    return false;
  };
}

function semverOperator(accept: (comparison: number) => boolean): OperatorFn<string> {
  return {
    missing: FALSE_EVEN_NEGATED,
    check: (value) => (parseSemver(value) === null ? `"${value}" is not a semantic version (like 2.1.0 or 2.1.0-beta.1)` : null),
    compile(value) {
      const expected = parseSemver(value) as Semver;
      return (actual) => {
        if (typeof actual !== 'string') return false;
        const version = parseSemver(actual);
        return version !== null && accept(compareSemver(version, expected));
      };
    },
  };
}

function instantOperator(accept: (actual: number, expected: number) => boolean): OperatorFn<string | number> {
  return {
    missing: FALSE_EVEN_NEGATED,
    check: (value) =>
      parseInstant(value) === null
        ? `${JSON.stringify(value)} is not an instant: use epoch milliseconds, a date (2025-01-31) or a date-time with a zone (2025-01-31T12:00:00Z)`
        : null,
    compile(value) {
      const expected = parseInstant(value) as number;
      return (actual) => {
        const instant = parseInstant(actual);
        return instant !== null && accept(instant, expected);
      };
    },
  };
}

function checkRange({ min, max }: RangeValue): string | null {
  if (min === undefined && max === undefined) return 'a range needs min, max or both';
  if (min !== undefined && max !== undefined && !(min < max)) return `min (${min}) must be lower than max (${max}): the range is min ≤ attribute < max`;
  return null;
}

export const operators = {
  /** Strict equality, no coercion: numbers compare as numbers, strings exactly, booleans as booleans. */
  equals: {
    missing: FALSE_EVEN_NEGATED,
    check: noCheck,
    compile: (value) => (actual) => actual === value,
  },
  /** Strict equality with any of the values. */
  in: {
    missing: FALSE_EVEN_NEGATED,
    check: (values) => (values.length === 0 ? '`in` needs at least one value' : null),
    compile: inTest,
  },
  /** The attribute is a string in which the RE2 pattern matches (unanchored). */
  regex: {
    missing: FALSE_EVEN_NEGATED,
    check: (pattern) => regexError(pattern),
    compile: compileRegex,
  },
  /** The attribute is a number and min ≤ attribute < max (an omitted bound is unbounded). */
  range: {
    missing: FALSE_EVEN_NEGATED,
    check: checkRange,
    compile({ min = -Infinity, max = Infinity }) {
      return (actual) => typeof actual === 'number' && actual >= min && actual < max;
    },
  },
  starts_with: {
    missing: FALSE_EVEN_NEGATED,
    check: noCheck,
    compile: (value) => stringTest(value, (actual, expected) => actual.startsWith(expected)),
  },
  ends_with: {
    missing: FALSE_EVEN_NEGATED,
    check: noCheck,
    compile: (value) => stringTest(value, (actual, expected) => actual.endsWith(expected)),
  },
  /** Substring of a string attribute (for membership in an array attribute, use `equals`/`in`). */
  contains: {
    missing: FALSE_EVEN_NEGATED,
    check: noCheck,
    compile: (value) => stringTest(value, (actual, expected) => actual.includes(expected)),
  },
  /** An attribute that is not a parseable version fails every semver operator. */
  semver_eq: semverOperator((c) => c === 0),
  semver_lt: semverOperator((c) => c < 0),
  semver_lte: semverOperator((c) => c <= 0),
  semver_gt: semverOperator((c) => c > 0),
  semver_gte: semverOperator((c) => c >= 0),
  /**
   * Compares the attribute's instant with a fixed one. The engine never reads the clock: to target by
   * the current time, the caller puts it in the context (e.g. `now`) like any other attribute.
   */
  before: instantOperator((actual, expected) => actual < expected),
  after: instantOperator((actual, expected) => actual > expected),
  /** The attribute is present (not undefined, not null); negated, it holds exactly when missing. */
  exists: {
    missing: { held: false, negatedHeld: true },
    check: noCheck,
    compile: () => () => true,
  },
} satisfies OperatorTable;

/** The operator's entry, typed for a condition whose value has already been shape-checked. */
export function operatorFor(op: Operator): OperatorFn<unknown> {
  return operators[op] as OperatorFn<unknown>;
}
