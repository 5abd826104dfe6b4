import { deepEqual } from './deep-equal.ts';
import { DEFAULT_BUCKET_BY } from './read-identity.ts';
import type { AttributeCondition, Condition, FlagDefinition, FlagValue, Scalar, SegmentDefinition } from './types.ts';
import { DEFAULT_MAX_JSON_BYTES } from './validate-flag.ts';

/** The closed set of warning codes; docs/impact-preview.md#warnings explains each. */
export const WARNING_CODES = [
  'rule_never_matches',
  'rule_unreachable',
  'segment_unused',
  'json_value_near_cap',
  'personal_data',
  'secret_like_value',
  'bucket_attribute_unseen',
] as const;

export type WarningCode = (typeof WARNING_CODES)[number];

/** A finding that does not block the write: the change is valid, but probably not what was meant. */
export interface LintWarning {
  readonly code: WarningCode;
  /** Where in the definition, in the same dotted form validation issues use (`rules[2].conditions`). */
  readonly path: string;
  readonly message: string;
}

/** A JSON value at or past this share of the size cap is flagged: the next edit may not fit. */
export const NEAR_CAP_SHARE = 0.9;

export interface FlagLintOptions {
  maxJsonBytes?: number;
  /**
   * Attributes the sampled contexts carry, top-level names and paths (docs/impact-preview.md#the-sample); without it, or
   * with an empty sample, bucketing attributes are not judged: no sample proves nothing.
   */
  sampledAttributes?: ReadonlySet<string>;
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
/**
 * Shapes of credentials that have no business in a flag: a JWT, a PEM key, well-known key prefixes
 * (Stripe, GitHub, Slack, AWS, OpenAI-style), and a long unbroken run of base64/hex characters
 * mixing letters and digits, which is what a generated secret looks like.
 */
const SECRET_SHAPES: readonly RegExp[] = [
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}/,
  /\bgh[pousr]_[A-Za-z0-9]{30,}/,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/,
  /\bAKIA[0-9A-Z]{16}\b/,
  /\bsk-[A-Za-z0-9_-]{20,}/,
];
const RANDOM_RUN = /[A-Za-z0-9+/_=-]{32,}/g;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Letters and digits mixed over 32 characters, and not a UUID (an id, not a secret). */
function looksGenerated(run: string): boolean {
  return /[0-9]/.test(run) && /[A-Za-z]/.test(run) && !UUID.test(run);
}

function secretShaped(text: string): boolean {
  if (SECRET_SHAPES.some((shape) => shape.test(text))) return true;
  for (const run of text.match(RANDOM_RUN) ?? []) if (looksGenerated(run)) return true;
  return false;
}

/** Every string inside a value with its path below `path`. */
function* stringsIn(value: unknown, path: string): Generator<[string, string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value)) for (const [index, item] of value.entries()) yield* stringsIn(item, `${path}[${index}]`);
  else if (typeof value === 'object' && value !== null) for (const [key, item] of Object.entries(value)) yield* stringsIn(item, `${path}.${key}`);
}

/** Every value a flag can serve, with its path. */
function servedValues(flag: FlagDefinition): [string, FlagValue][] {
  const values: [string, FlagValue][] = [['defaultValue', flag.defaultValue]];
  // offValue defaults to defaultValue: the same value is reported once.
  if (!deepEqual(flag.offValue, flag.defaultValue)) values.push(['offValue', flag.offValue]);
  if (flag.onValue !== undefined) values.push(['onValue', flag.onValue]);
  for (const [name, value] of Object.entries(flag.variants)) values.push([`variants.${name}`, value]);
  flag.rules.forEach((rule, index) => {
    if ('value' in rule.serve) values.push([`rules[${index}].serve.value`, rule.serve.value]);
  });
  return values;
}

function sensitiveText(path: string, text: string, what: string): LintWarning[] {
  const warnings: LintWarning[] = [];
  if (EMAIL.test(text)) warnings.push({ code: 'personal_data', path, message: `${what} contains what looks like an e-mail address; flags are served to every client and kept in the audit log: target by a user id instead` });
  if (secretShaped(text)) warnings.push({ code: 'secret_like_value', path, message: `${what} contains what looks like a secret (a key or token); flags are served to every client and kept in the audit log: keep secrets in a secret store` });
  return warnings;
}

function sensitiveWarnings(flag: FlagDefinition): LintWarning[] {
  const warnings = sensitiveText('description', flag.description, 'the description');
  for (const [path, value] of servedValues(flag)) {
    for (const [stringPath, text] of stringsIn(value, path)) warnings.push(...sensitiveText(stringPath, text, `the value at ${stringPath}`));
  }
  return warnings;
}

function sizeWarnings(flag: FlagDefinition, maxBytes: number): LintWarning[] {
  if (flag.type !== 'json') return [];
  const warnings: LintWarning[] = [];
  for (const [path, value] of servedValues(flag)) {
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes >= maxBytes * NEAR_CAP_SHARE) {
      warnings.push({ code: 'json_value_near_cap', path, message: `the value at ${path} is ${bytes} bytes, ${Math.round((bytes / maxBytes) * 100)}% of the ${maxBytes}-byte cap` });
    }
  }
  return warnings;
}

/** The set of values an attribute condition allows, when it is a finite list (equals, in). */
function allowedValues(condition: AttributeCondition): readonly Scalar[] | null {
  if (condition.negate) return null;
  if (condition.op === 'equals') return [condition.value];
  if (condition.op === 'in') return condition.value;
  return null;
}

/**
 * Why a rule's conditions can never all hold, or null. Only contradictions that hold for every
 * context are reported: the same condition required and negated, finite value sets of one attribute
 * with nothing in common, ranges that do not overlap, or a range the attribute's values fall outside.
 */
function contradiction(conditions: readonly Condition[]): string | null {
  for (let i = 0; i < conditions.length; i++) {
    const condition = conditions[i]!;
    for (let j = i + 1; j < conditions.length; j++) {
      const other = conditions[j]!;
      const { negate: negateA, ...a } = condition;
      const { negate: negateB, ...b } = other;
      if (Boolean(negateA) !== Boolean(negateB) && deepEqual(a as never, b as never)) return 'a condition and its negation are both required';
      if (!('attribute' in condition) || !('attribute' in other) || condition.attribute !== other.attribute) continue;
      if (condition.op === 'range' && other.op === 'range' && !condition.negate && !other.negate) {
        const low = Math.max(condition.value.min ?? -Infinity, other.value.min ?? -Infinity);
        const high = Math.min(condition.value.max ?? Infinity, other.value.max ?? Infinity);
        if (low >= high) return `the ranges of "${condition.attribute}" do not overlap`;
      }
      const left = allowedValues(condition);
      const right = allowedValues(other);
      if (left && right && !left.some((value) => right.includes(value))) {
        return `"${condition.attribute}" cannot be one of ${JSON.stringify(left)} and one of ${JSON.stringify(right)} at once`;
      }
      for (const [values, range] of [[left, other], [right, condition]] as const) {
        if (!values || range.op !== 'range' || range.negate) continue;
        const { min, max } = range.value;
        if (values.every((value) => typeof value !== 'number' || (min !== undefined && value < min) || (max !== undefined && value >= max))) {
          return `no value ${JSON.stringify(values)} of "${condition.attribute}" lies in its range`;
        }
      }
    }
  }
  return null;
}

/** Whether every condition of `earlier` is also a condition of `later`: whenever `later` holds, `earlier` did. */
function implies(later: readonly Condition[], earlier: readonly Condition[]): boolean {
  return earlier.every((condition) => later.some((candidate) => deepEqual(candidate as never, condition as never)));
}

function ruleWarnings(flag: FlagDefinition): LintWarning[] {
  const warnings: LintWarning[] = [];
  flag.rules.forEach((rule, index) => {
    const path = `rules[${index}]`;
    const why = contradiction(rule.conditions);
    if (why) {
      warnings.push({ code: 'rule_never_matches', path, message: `rule "${rule.id}" can never match: ${why}` });
      return;
    }
    // An earlier rule that serves a fixed answer always wins when its conditions hold; a distribution
    // may be skipped (no identity), so it shadows nothing.
    const shadow = flag.rules.slice(0, index).find((earlier) => !('distribution' in earlier.serve) && implies(rule.conditions, earlier.conditions) && !contradiction(earlier.conditions));
    if (shadow) {
      warnings.push({ code: 'rule_unreachable', path, message: `rule "${rule.id}" is never reached: rule "${shadow.id}" before it matches every context it would` });
    }
  });
  return warnings;
}

function bucketingWarnings(flag: FlagDefinition, sampled: ReadonlySet<string> | undefined): LintWarning[] {
  if (!sampled || sampled.size === 0) return [];
  const warnings: LintWarning[] = [];
  const check = (path: string, bucketBy: string | undefined): void => {
    // The default bucketBy also reads OpenFeature's targetingKey (read-identity.ts).
    const attributes = bucketBy === undefined || bucketBy === DEFAULT_BUCKET_BY ? [DEFAULT_BUCKET_BY, 'targetingKey'] : [bucketBy];
    // A nested path counts as carried when its top-level object is: the sample remembers names, not every path.
    if (attributes.some((attribute) => sampled.has(attribute) || sampled.has(attribute.split('.')[0]!))) return;
    warnings.push({ code: 'bucket_attribute_unseen', path, message: `buckets by "${attributes[0]}", which no sampled context carries: contexts fall back to projectId, or get the default without one` });
  };
  if (flag.rollout) check('rollout.bucketBy', flag.rollout.bucketBy);
  flag.rules.forEach((rule, index) => {
    if ('distribution' in rule.serve) check(`rules[${index}].serve.bucketBy`, rule.serve.bucketBy);
  });
  return warnings;
}

/**
 * The non-blocking findings on a valid flag definition: rules that can never match or never be
 * reached, JSON values near the size cap, personal data or secrets in values or the description,
 * and bucketing by an attribute the sampled contexts never carry. Pure; the definition must
 * already be valid (`validateFlag`).
 */
export function lintFlag(flag: FlagDefinition, options: FlagLintOptions = {}): LintWarning[] {
  return [
    ...ruleWarnings(flag),
    ...sizeWarnings(flag, options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES),
    ...sensitiveWarnings(flag),
    ...bucketingWarnings(flag, options.sampledAttributes),
  ];
}

/**
 * The findings on a valid segment: conditions that contradict each other, personal data or secrets
 * in its description, and no flag using it (`usedBy`: the keys of active flags whose rules refer to it).
 */
export function lintSegment(segment: SegmentDefinition, usedBy: readonly string[]): LintWarning[] {
  const warnings: LintWarning[] = [];
  const why = contradiction(segment.conditions);
  if (why) warnings.push({ code: 'rule_never_matches', path: 'conditions', message: `segment "${segment.key}" can never match: ${why}` });
  if (usedBy.length === 0) warnings.push({ code: 'segment_unused', path: 'key', message: `no active flag uses segment "${segment.key}"` });
  warnings.push(...sensitiveText('description', segment.description, 'the description'));
  return warnings;
}
