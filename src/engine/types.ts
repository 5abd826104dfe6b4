/**
 * The flag model and the evaluation result, with the contract's wire names (JSON, camelCase).
 * These are plain data: everything here survives `JSON.stringify`/`JSON.parse` unchanged.
 */

/** A JSON value as it appears inside a `json` flag's values. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A `json` flag's value: an object or an array, never a bare scalar or null. */
export type JsonObjectOrArray = { [key: string]: JsonValue } | JsonValue[];

export const FLAG_TYPES = ['boolean', 'string', 'number', 'json'] as const;

export type FlagType = (typeof FLAG_TYPES)[number];

/** Any value a flag can serve; validation guarantees it matches the flag's `type`. */
export type FlagValue = boolean | string | number | JsonObjectOrArray;

export type FlagState = 'active' | 'archived';

/**
 * The operators a condition may use. The semantics of each, including what a missing attribute does,
 * live beside the implementation in `operators.ts` and in `docs/engine.md`.
 */
export const OPERATORS = [
  'equals',
  'in',
  'regex',
  'range',
  'starts_with',
  'ends_with',
  'contains',
  'semver_eq',
  'semver_lt',
  'semver_lte',
  'semver_gt',
  'semver_gte',
  'before',
  'after',
  'exists',
] as const;

export type Operator = (typeof OPERATORS)[number];

export type Scalar = string | number | boolean;

export interface RangeValue {
  min?: number;
  max?: number;
}

/** What each operator takes as its `value`. */
export interface OperatorValues {
  equals: Scalar;
  in: Scalar[];
  regex: string;
  range: RangeValue;
  starts_with: string | string[];
  ends_with: string | string[];
  contains: string | string[];
  semver_eq: string;
  semver_lt: string;
  semver_lte: string;
  semver_gt: string;
  semver_gte: string;
  /** An ISO-8601 date or date-time with a zone, or epoch milliseconds. */
  before: string | number;
  after: string | number;
  /** `exists` takes no value. */
  exists: undefined;
}

/** `{ attribute, op, value, negate? }`: the attribute at a dotted path compared with an operator. */
export type AttributeCondition = {
  [K in Operator]: K extends 'exists'
    ? { attribute: string; op: K; value?: undefined; negate?: boolean }
    : { attribute: string; op: K; value: OperatorValues[K]; negate?: boolean };
}[Operator];

/** `{ segment, negate? }`: holds when every condition of the segment holds. */
export interface SegmentCondition {
  segment: string;
  negate?: boolean;
}

export type Condition = AttributeCondition | SegmentCondition;

export interface WeightedVariant {
  variant: string;
  /** Percent, 0–100 with at most three decimals; a distribution's weights sum to 100. */
  weight: number;
}

export type Serve =
  | { value: FlagValue }
  | { variant: string }
  | { distribution: WeightedVariant[]; bucketBy?: string };

export interface Rule {
  id: string;
  conditions: Condition[];
  serve: Serve;
}

export type Rollout =
  | { percentage: number; bucketBy?: string }
  | { distribution: WeightedVariant[]; bucketBy?: string };

export interface Prerequisite {
  flagKey: string;
  value: FlagValue;
}

/**
 * A flag as a client writes it, after validation and defaults: everything except `state`, `version`
 * and the audit metadata, which the service owns.
 */
export interface FlagDefinition {
  key: string;
  type: FlagType;
  description: string;
  tags: string[];
  enabled: boolean;
  /**
   * Served to allowlisted identities and to the in-rollout share. Always present for boolean flags
   * (default `true`); for other types it is required only when an allowlist or a percentage rollout
   * needs it.
   */
  onValue?: FlagValue;
  offValue: FlagValue;
  defaultValue: FlagValue;
  variants: Record<string, FlagValue>;
  allowlist: string[];
  denylist: string[];
  prerequisites: Prerequisite[];
  rules: Rule[];
  rollout?: Rollout;
  /** The killswitch category this flag belongs to; engaging the category turns the flag off. */
  killswitch?: string;
  highImpact: boolean;
  /** Who answers for the flag; stale flags are announced per owner. */
  owner?: string;
  /** `permanent`: never stale; a number: the days a temporary flag is expected to live. */
  expectedLifetime?: 'permanent' | number;
  /** Who may approve changes to a high-impact flag (identities, `group:<name>`); absent, any person who may approve. */
  approvers?: string[];
}

/** A stored flag: the definition plus what the service owns. */
export interface Flag extends FlagDefinition {
  state: FlagState;
  version: number;
  createdAt?: string;
  updatedAt?: string;
  createdBy?: string;
  updatedBy?: string;
}

export interface SegmentDefinition {
  key: string;
  name: string;
  description: string;
  conditions: Condition[];
}

export type Segment = SegmentDefinition;

/**
 * The attributes of one evaluation: a plain object, as parsed from JSON. `userId`, `targetingKey`
 * (OpenFeature) and `projectId` have a meaning for identity; everything else is for conditions.
 */
export type EvaluationContext = Readonly<Record<string, unknown>>;

/** `error` is produced by the SDK only (its fallback); the engine never returns it. */
export const REASONS = ['default', 'rule', 'percentage', 'prerequisite_failed', 'off', 'error'] as const;
export type Reason = (typeof REASONS)[number];

/** OpenFeature's reason for each of ours, as CONTRACT.md maps them (the OFREP answer and the SDK's provider). */
export const OPENFEATURE_REASONS = {
  default: 'DEFAULT',
  rule: 'TARGETING_MATCH',
  percentage: 'SPLIT',
  off: 'DISABLED',
  prerequisite_failed: 'DISABLED',
  error: 'ERROR',
} as const satisfies Record<Reason, string>;

/**
 * The answer for one flag and one context. The engine hands out shared, frozen instances (every
 * outcome of a flag is known at compile time), so treat results as read-only; spread one to change it.
 */
export interface EvaluationResult {
  readonly flagKey: string;
  readonly value: FlagValue;
  readonly variant: string | null;
  readonly reason: Reason;
  readonly ruleId?: string;
  readonly prerequisiteKey?: string;
  readonly inRollout?: boolean;
  readonly flagVersion: number;
}

/** One problem with an input: where (`rules[0].conditions[1].value`) and what was expected. */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

export type ValidationResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: ValidationIssue[] };
