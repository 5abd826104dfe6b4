import { allHold, compileCondition, compileSegment, type CompiledCondition, type CompiledSegment, type ContextTest } from './compile-condition.ts';
import { deepEqual } from './deep-equal.ts';
import { prepareSalt, type PreparedSalt } from './hash.ts';
import { compileAttributeReader, type AttributeReader } from './read-attribute.ts';
import { compileIdentityReader, DEFAULT_BUCKET_BY, listIdentityAttributes, type IdentityReader } from './read-identity.ts';
import type { EvaluationResult, Flag, FlagValue, Reason, Segment, WeightedVariant } from './types.ts';
import { OverlaidMap } from './overlaid-map.ts';

/**
 * Compilation turns each flag into a plan that evaluation only has to walk: conditions become
 * closures, lists become Sets, salts are pre-hashed, distributions become integer thresholds. And
 * because every outcome of a flag (off, each prerequisite failure, deny, allow, each rule, each
 * variant of a split, in and out of the rollout, default) is known at compile time, each outcome's
 * EvaluationResult is built once here and frozen: evaluation returns one of them and allocates nothing.
 */

/** A distribution compiled to cumulative bucket thresholds. */
export interface CompiledSplit {
  readonly salt: PreparedSalt;
  readonly bucketBy: string;
  readonly identity: IdentityReader;
  /** Exclusive upper bucket bound per variant: the running sum of round(weight × 1000). */
  readonly thresholds: readonly number[];
  readonly variants: readonly string[];
  /** The result served for each variant, index-aligned with `variants`. */
  readonly results: readonly EvaluationResult[];
}

/** A rule's serve: a fixed result, or a split picked by bucket. Exactly one is non-null. */
export interface CompiledServe {
  readonly result: EvaluationResult | null;
  readonly split: CompiledSplit | null;
}

export interface CompiledRule {
  readonly id: string;
  readonly conditions: readonly CompiledCondition[];
  readonly holds: ContextTest;
  readonly serve: CompiledServe;
}

export interface CompiledPercentage {
  readonly salt: PreparedSalt;
  readonly bucketBy: string;
  readonly identity: IdentityReader;
  /** In the rollout when bucket < threshold = round(percentage × 1000). */
  readonly threshold: number;
  readonly inResult: EvaluationResult;
  readonly outResult: EvaluationResult;
}

/** The rollout step: a percentage or a split. Exactly one is non-null. */
export interface CompiledRollout {
  readonly percentage: CompiledPercentage | null;
  readonly split: CompiledSplit | null;
}

export interface CompiledPrerequisite {
  readonly flagKey: string;
  readonly required: FlagValue;
  readonly matches: (value: FlagValue) => boolean;
  /** The result when this prerequisite fails. */
  readonly failed: EvaluationResult;
}

export interface CompiledLists {
  readonly readers: readonly AttributeReader[];
  readonly attributes: readonly string[];
  readonly deny: ReadonlySet<string> | null;
  readonly allow: ReadonlySet<string> | null;
  readonly denied: EvaluationResult;
  readonly allowed: EvaluationResult | null;
}

/** One flag's evaluation plan. Fields are read by evaluate/explain; treat the object as opaque. */
export interface CompiledFlag {
  readonly key: string;
  readonly version: number;
  /** The flag this was compiled from (not copied: do not mutate it afterwards). */
  readonly flag: Flag;
  /** Segments the flag's rules use: a change to one of them recompiles this flag. */
  readonly segmentKeys: ReadonlySet<string>;
  readonly enabled: boolean;
  readonly killswitch: string | null;
  readonly prerequisites: readonly CompiledPrerequisite[];
  readonly lists: CompiledLists | null;
  readonly rules: readonly CompiledRule[];
  readonly rollout: CompiledRollout | null;
  readonly offResult: EvaluationResult;
  readonly defaultResult: EvaluationResult;
  /**
   * The result when nothing about the context can change it (no killswitch, prerequisites, lists,
   * rules or rollout): evaluation returns it at once.
   */
  readonly constantResult: EvaluationResult | null;
}

interface Extra {
  ruleId?: string;
  prerequisiteKey?: string;
  inRollout?: boolean;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Builds a flag's results; JSON values are copied and frozen once, so callers cannot alter a shared result. */
function resultFactory(flag: Flag) {
  const frozenValues = new Map<FlagValue, FlagValue>();
  const freezeValue = (value: FlagValue): FlagValue => {
    if (typeof value !== 'object') return value;
    let frozen = frozenValues.get(value);
    if (frozen === undefined) {
      frozen = deepFreeze(structuredClone(value));
      frozenValues.set(value, frozen);
    }
    return frozen;
  };
  return (value: FlagValue, variant: string | null, reason: Reason, extra: Extra = {}): EvaluationResult => {
    // One property order for every result, so they share few hidden classes and serialize alike.
    const result: { -readonly [K in keyof EvaluationResult]: EvaluationResult[K] } = {
      flagKey: flag.key,
      value: freezeValue(value),
      variant,
      reason,
    } as EvaluationResult;
    if (extra.ruleId !== undefined) result.ruleId = extra.ruleId;
    if (extra.prerequisiteKey !== undefined) result.prerequisiteKey = extra.prerequisiteKey;
    if (extra.inRollout !== undefined) result.inRollout = extra.inRollout;
    result.flagVersion = flag.version;
    return Object.freeze(result);
  };
}

type ResultFactory = ReturnType<typeof resultFactory>;

function variantValue(flag: Flag, variant: string): FlagValue {
  const value = flag.variants[variant];
  if (value === undefined) throw new Error(`flag "${flag.key}" refers to variant "${variant}", which it does not define`);
  return value;
}

function compileSplit(
  flag: Flag,
  distribution: readonly WeightedVariant[],
  salt: string,
  bucketBy: string | undefined,
  result: (variant: string, value: FlagValue) => EvaluationResult,
): CompiledSplit {
  const thresholds: number[] = [];
  let cumulative = 0;
  for (const { weight } of distribution) {
    // Integer milli-percent arithmetic: weights have at most three decimals and sum to exactly 100000.
    cumulative += Math.round(weight * 1000);
    thresholds.push(cumulative);
  }
  const variants = distribution.map((entry) => entry.variant);
  return {
    salt: prepareSalt(salt),
    bucketBy: bucketBy ?? DEFAULT_BUCKET_BY,
    identity: compileIdentityReader(bucketBy),
    thresholds,
    variants,
    results: variants.map((variant) => result(variant, variantValue(flag, variant))),
  };
}

function compileServe(flag: Flag, ruleIndex: number, make: ResultFactory): CompiledServe {
  const rule = flag.rules[ruleIndex]!;
  const serve = rule.serve;
  const ruleId = rule.id;
  if ('value' in serve) return { result: make(serve.value, null, 'rule', { ruleId }), split: null };
  if ('variant' in serve) return { result: make(variantValue(flag, serve.variant), serve.variant, 'rule', { ruleId }), split: null };
  // The contract's salt for a rule's distribution: flag key + "." + rule id.
  const split = compileSplit(flag, serve.distribution, `${flag.key}.${ruleId}`, serve.bucketBy, (variant, value) =>
    make(value, variant, 'rule', { ruleId }),
  );
  return { result: null, split };
}

function compileRollout(flag: Flag, make: ResultFactory): CompiledRollout | null {
  const rollout = flag.rollout;
  if (rollout === undefined) return null;
  if ('percentage' in rollout) {
    const onValue = flag.onValue ?? (flag.type === 'boolean' ? true : undefined);
    if (onValue === undefined) throw new Error(`flag "${flag.key}" has a percentage rollout but no onValue`);
    return {
      percentage: {
        salt: prepareSalt(flag.key),
        bucketBy: rollout.bucketBy ?? DEFAULT_BUCKET_BY,
        identity: compileIdentityReader(rollout.bucketBy),
        threshold: Math.round(rollout.percentage * 1000),
        inResult: make(onValue, null, 'percentage', { inRollout: true }),
        outResult: make(flag.defaultValue, null, 'percentage', { inRollout: false }),
      },
      split: null,
    };
  }
  const split = compileSplit(flag, rollout.distribution, flag.key, rollout.bucketBy, (variant, value) =>
    make(value, variant, 'percentage', { inRollout: true }),
  );
  return { percentage: null, split };
}

function compileLists(flag: Flag, make: ResultFactory): CompiledLists | null {
  if (flag.allowlist.length === 0 && flag.denylist.length === 0) return null;
  const attributes = listIdentityAttributes(flag.rollout?.bucketBy);
  const onValue = flag.onValue ?? (flag.type === 'boolean' ? true : undefined);
  if (flag.allowlist.length > 0 && onValue === undefined) throw new Error(`flag "${flag.key}" has an allowlist but no onValue`);
  return {
    readers: attributes.map(compileAttributeReader),
    attributes,
    deny: flag.denylist.length > 0 ? new Set(flag.denylist) : null,
    allow: flag.allowlist.length > 0 ? new Set(flag.allowlist) : null,
    denied: make(flag.offValue, null, 'rule', { ruleId: 'denylist' }),
    allowed: onValue === undefined ? null : make(onValue, null, 'rule', { ruleId: 'allowlist' }),
  };
}

function compilePrerequisite(flag: Flag, index: number, make: ResultFactory): CompiledPrerequisite {
  const { flagKey, value: required } = flag.prerequisites[index]!;
  const matches =
    typeof required === 'object' ? (value: FlagValue) => deepEqual(value, required) : (value: FlagValue) => value === required;
  return { flagKey, required, matches, failed: make(flag.offValue, null, 'prerequisite_failed', { prerequisiteKey: flagKey }) };
}

/**
 * Compiles one flag against the compiled segments. Expects a validated flag (`validateFlag` plus
 * `checkFlagReferences`); throws on a reference to a variant that does not exist, which validation
 * rules out.
 */
export function compileFlag(flag: Flag, segments: ReadonlyMap<string, CompiledSegment>): CompiledFlag {
  const make = resultFactory(flag);
  const segmentKeys = new Set<string>();
  const rules = flag.rules.map((rule, index): CompiledRule => {
    const conditions = rule.conditions.map((condition) => {
      if ('segment' in condition) segmentKeys.add(condition.segment);
      return compileCondition(condition, segments);
    });
    return { id: rule.id, conditions, holds: allHold(conditions.map((c) => c.holds)), serve: compileServe(flag, index, make) };
  });
  const prerequisites = flag.prerequisites.map((_, index) => compilePrerequisite(flag, index, make));
  const lists = compileLists(flag, make);
  const rollout = compileRollout(flag, make);
  const offResult = make(flag.offValue, null, 'off');
  const defaultResult = make(flag.defaultValue, null, 'default');
  const killswitch = flag.killswitch ?? null;
  let constantResult: EvaluationResult | null = null;
  if (!flag.enabled) constantResult = offResult;
  else if (killswitch === null && prerequisites.length === 0 && lists === null && rules.length === 0 && rollout === null) constantResult = defaultResult;
  return {
    key: flag.key,
    version: flag.version,
    flag,
    segmentKeys,
    enabled: flag.enabled,
    killswitch,
    prerequisites,
    lists,
    rules,
    rollout,
    offResult,
    defaultResult,
    constantResult,
  };
}

/**
 * An immutable, compiled set of flags and segments plus the engaged killswitch categories. Every
 * `with…` method returns a new set that shares all unchanged compiled flags with this one.
 * Archived flags are not in a set: they cannot be evaluated.
 */
export class CompiledFlagSet {
  /** Compiled flags by key. Read-only: use the `with…` methods to derive a changed set. */
  readonly flags: ReadonlyMap<string, CompiledFlag>;
  /** `flags` itself, as what it is: the `with…` methods derive from it without copying it. */
  readonly #flags: OverlaidMap<string, CompiledFlag>;
  readonly segments: ReadonlyMap<string, CompiledSegment>;
  /** Engaged killswitch categories. */
  readonly killswitches: ReadonlySet<string>;

  /** @internal Use {@link compileFlagSet}. */
  constructor(
    flags: OverlaidMap<string, CompiledFlag>,
    segments: ReadonlyMap<string, CompiledSegment>,
    killswitches: ReadonlySet<string>,
  ) {
    this.flags = flags;
    this.#flags = flags;
    this.segments = segments;
    this.killswitches = killswitches;
    Object.freeze(this);
  }

  get size(): number {
    return this.flags.size;
  }

  get(key: string): CompiledFlag | undefined {
    return this.flags.get(key);
  }

  has(key: string): boolean {
    return this.flags.has(key);
  }

  keys(): IterableIterator<string> {
    return this.flags.keys();
  }

  /** Adds or replaces one flag, compiling only that flag. An archived flag is removed instead. */
  withFlag(flag: Flag): CompiledFlagSet {
    return this.withFlags([flag]);
  }

  /**
   * `withFlag` for many flags at once: the set is copied once, not once per flag (a catch-up brings
   * every flag other processes changed since the last one).
   */
  withFlags(changed: readonly Flag[]): CompiledFlagSet {
    // Archiving flags the set does not hold changes nothing.
    if (changed.every((flag) => flag.state === 'archived' && !this.flags.has(flag.key))) return this;
    const flags = this.#flags.with(changed.map((flag) => [flag.key, flag.state === 'archived' ? undefined : compileFlag(flag, this.segments)] as const));
    return new CompiledFlagSet(flags, this.segments, this.killswitches);
  }

  withoutFlag(key: string): CompiledFlagSet {
    if (!this.flags.has(key)) return this;
    return new CompiledFlagSet(this.#flags.with([[key, undefined]]), this.segments, this.killswitches);
  }

  /** Adds or replaces one segment, recompiling only the flags that use it. */
  withSegment(segment: Segment): CompiledFlagSet {
    const segments = new Map(this.segments);
    segments.set(segment.key, compileSegment(segment));
    return this.relinked(segments, segment.key);
  }

  /** Removes a segment. The service refuses this while a flag uses it; a flag that still does fails closed. */
  withoutSegment(key: string): CompiledFlagSet {
    if (!this.segments.has(key)) return this;
    const segments = new Map(this.segments);
    segments.delete(key);
    return this.relinked(segments, key);
  }

  /** The same flags with another set of engaged killswitch categories; nothing is recompiled. */
  withKillswitches(engaged: ReadonlySet<string>): CompiledFlagSet {
    return new CompiledFlagSet(this.#flags, this.segments, new Set(engaged));
  }

  private relinked(segments: ReadonlyMap<string, CompiledSegment>, changedSegment: string): CompiledFlagSet {
    const relinked: [string, CompiledFlag][] = [];
    for (const compiled of this.flags.values()) {
      if (compiled.segmentKeys.has(changedSegment)) relinked.push([compiled.key, compileFlag(compiled.flag, segments)]);
    }
    return new CompiledFlagSet(this.#flags.with(relinked), segments, this.killswitches);
  }
}

/**
 * Compiles flags and segments into an immutable set, once, so that evaluation only runs closures
 * and compares numbers. Archived flags are left out. Expects validated flags and segments.
 *
 * @param input.killswitches the engaged killswitch categories (default: none)
 */
export function compileFlagSet(input: {
  flags: readonly Flag[];
  segments: readonly Segment[];
  killswitches?: ReadonlySet<string>;
}): CompiledFlagSet {
  const segments = new Map<string, CompiledSegment>();
  for (const segment of input.segments) segments.set(segment.key, compileSegment(segment));
  const flags = new Map<string, CompiledFlag>();
  for (const flag of input.flags) {
    if (flag.state === 'archived') continue;
    flags.set(flag.key, compileFlag(flag, segments));
  }
  return new CompiledFlagSet(OverlaidMap.from(flags), segments, new Set(input.killswitches ?? []));
}
