/**
 * The evaluation engine: pure code shared by the API, the workflows' activities and the SDK.
 * No I/O, no clock, no randomness, no logging. See docs/engine.md for the semantics.
 */
export type {
  AttributeCondition,
  Condition,
  EvaluationContext,
  EvaluationResult,
  Flag,
  FlagDefinition,
  FlagState,
  FlagType,
  FlagValue,
  JsonObjectOrArray,
  JsonValue,
  Operator,
  OperatorValues,
  Prerequisite,
  RangeValue,
  Reason,
  Rollout,
  Rule,
  Scalar,
  Segment,
  SegmentCondition,
  SegmentDefinition,
  Serve,
  ValidationIssue,
  ValidationResult,
  WeightedVariant,
} from './types.ts';
export { FLAG_TYPES, OPENFEATURE_REASONS, OPERATORS, REASONS } from './types.ts';
export { findPrerequisiteCycle } from './find-prerequisite-cycle.ts';
export { compileFlagSet, CompiledFlagSet, type CompiledFlag } from './compile-flag-set.ts';
export { evaluate, evaluateAll, MAX_PREREQUISITE_DEPTH } from './evaluate.ts';
export { explain, type ConditionTrace, type Explanation, type ExplanationStep, type IdentityTrace, type SplitTrace, type ExplanationOutcome } from './explain.ts';
export { bucketFor, BUCKETS } from './hash.ts';
export { attributeKeeper, attributesRead, computeImpact, dependentsOf, prerequisiteClosure, IDENTITY_ATTRIBUTES, type FlagImpact, type ImpactWorld, type ImpactInput, type Outcome, type Transition } from './compute-impact.ts';
export { compileAttributeReader, type AttributeReader } from './read-attribute.ts';
