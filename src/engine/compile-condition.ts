import { operatorFor, type AttributeTest } from './operators.ts';
import { compileAttributeReader, plainPropertyName, type AttributeReader } from './read-attribute.ts';
import type { AttributeCondition, Condition, EvaluationContext, Segment, SegmentCondition } from './types.ts';

/** A compiled predicate over a context. */
export type ContextTest = (context: EvaluationContext) => boolean;

export interface CompiledAttributeCondition {
  readonly kind: 'attribute';
  readonly source: AttributeCondition;
  readonly read: AttributeReader;
  /** The operator's test of a present value, before negation and without the array rule. */
  readonly test: AttributeTest;
  readonly negate: boolean;
  /** The condition's result (negation applied) when the attribute is missing. */
  readonly whenMissing: boolean;
  readonly holds: ContextTest;
}

export interface CompiledSegment {
  readonly key: string;
  readonly source: Segment;
  readonly conditions: readonly CompiledAttributeCondition[];
  readonly holds: ContextTest;
}

export interface CompiledSegmentCondition {
  readonly kind: 'segment';
  readonly source: SegmentCondition;
  /** Undefined when the segment does not exist: then the condition never holds, negated or not. */
  readonly segment: CompiledSegment | undefined;
  readonly negate: boolean;
  readonly holds: ContextTest;
}

export type CompiledCondition = CompiledAttributeCondition | CompiledSegmentCondition;

function isMissing(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

/**
 * The operator's verdict on a present value. Like LaunchDarkly, when the attribute is an array the
 * condition looks at its elements: it holds when any (non-null) element passes.
 */
export function testPresent(test: AttributeTest, actual: unknown): boolean {
  if (test(actual)) return true;
  if (!Array.isArray(actual)) return false;
  for (const element of actual) if (!isMissing(element) && test(element)) return true;
  return false;
}

// Pads a short `in` list; a context parsed from JSON never holds a symbol.
const NEVER = Symbol('never');

/**
 * Single-closure forms of `equals` and `in` (up to four values) for a plain attribute name without
 * negation. Same semantics as the generic path: a missing attribute (undefined or null) equals no
 * value, and an array attribute holds when an element does.
 */
function inlinedHolds(condition: AttributeCondition, name: string, test: AttributeTest): ContextTest | null {
  if (condition.op === 'equals') {
    const expected = condition.value;
    return (context) => {
      const actual = context[name];
      return actual === expected || (Array.isArray(actual) && testPresent(test, actual));
    };
  }
  if (condition.op === 'in' && condition.value.length <= 4) {
    const [v0, v1 = NEVER, v2 = NEVER, v3 = NEVER] = condition.value;
    return (context) => {
      const actual = context[name];
      return actual === v0 || actual === v1 || actual === v2 || actual === v3 || (Array.isArray(actual) && testPresent(test, actual));
    };
  }
  return null;
}

function compileAttributeCondition(condition: AttributeCondition): CompiledAttributeCondition {
  const operator = operatorFor(condition.op);
  const test = operator.compile(condition.value);
  const read = compileAttributeReader(condition.attribute);
  const negate = condition.negate === true;
  const whenMissing = negate ? operator.missing.negatedHeld : operator.missing.held;
  const name = plainPropertyName(condition.attribute);
  let holds: ContextTest;
  if (negate) {
    holds = (context) => {
      const actual = read(context);
      if (isMissing(actual)) return whenMissing;
      return !testPresent(test, actual);
    };
  } else if (name !== null) {
    // The common case: a plain attribute name, not negated. `equals` and a short `in` are inlined
    // (one closure per condition instead of two: a quarter of a targeted flag's cost).
    holds = inlinedHolds(condition, name, test) ?? ((context) => {
      const actual = context[name];
      if (actual === undefined || actual === null) return whenMissing;
      return test(actual) || (Array.isArray(actual) && testPresent(test, actual));
    });
  } else {
    holds = (context) => {
      const actual = read(context);
      if (isMissing(actual)) return whenMissing;
      return test(actual) || (Array.isArray(actual) && testPresent(test, actual));
    };
  }
  return { kind: 'attribute', source: condition, read, test, negate, whenMissing, holds };
}

/** All of the tests hold (AND). Unrolled for the short lists that rules usually have. */
export function allHold(tests: readonly ContextTest[]): ContextTest {
  const [a, b, c] = tests;
  switch (tests.length) {
    case 0:
      return () => true;
    case 1:
      return a!;
    case 2:
      return (context) => a!(context) && b!(context);
    case 3:
      return (context) => a!(context) && b!(context) && c!(context);
    default:
      return (context) => {
        for (let i = 0; i < tests.length; i++) if (!tests[i]!(context)) return false;
        return true;
      };
  }
}

/** Compiles a segment: its conditions (attribute conditions only) all hold. */
export function compileSegment(segment: Segment): CompiledSegment {
  const conditions = segment.conditions.map((condition) => {
    if ('segment' in condition) throw new Error(`segment "${segment.key}" refers to segment "${condition.segment}": segments cannot nest`);
    return compileAttributeCondition(condition);
  });
  return { key: segment.key, source: segment, conditions, holds: allHold(conditions.map((c) => c.holds)) };
}

/**
 * Compiles a condition of a rule. A segment condition captures the compiled segment, so a changed
 * segment means recompiling the flags that use it (CompiledFlagSet.withSegment does that). A segment
 * that does not exist fails closed: the condition is false even when negated, so that a dangling
 * reference never widens who gets a rule's value.
 */
export function compileCondition(condition: Condition, segments: ReadonlyMap<string, CompiledSegment>): CompiledCondition {
  if (!('segment' in condition)) return compileAttributeCondition(condition);
  const segment = segments.get(condition.segment);
  const negate = condition.negate === true;
  let holds: ContextTest;
  if (segment === undefined) holds = () => false;
  else if (negate) holds = (context) => !segment.holds(context);
  else holds = segment.holds;
  return { kind: 'segment', source: condition, segment, negate, holds };
}
