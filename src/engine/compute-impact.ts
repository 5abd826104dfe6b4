import { compileAttributeReader } from './read-attribute.ts';
import { DEFAULT_BUCKET_BY } from './read-identity.ts';
import { compileFlagSet, type CompiledFlagSet } from './compile-flag-set.ts';
import { asContext, evaluate } from './evaluate.ts';
import type { Condition, EvaluationContext, EvaluationResult, Flag, Segment } from './types.ts';

/** Attributes every sample keeps, whatever the rules read: what identifies and buckets a context. */
export const IDENTITY_ATTRIBUTES: readonly string[] = [DEFAULT_BUCKET_BY, 'targetingKey', 'projectId'];

function conditionAttributes(conditions: readonly Condition[], into: Set<string>): void {
  for (const condition of conditions) if ('attribute' in condition) into.add(condition.attribute);
}

/**
 * The attribute paths that evaluating `set` can read: every rule's and segment's conditions, the
 * identity attributes, and every bucketBy. A sample keeps these of a context and nothing else.
 */
export function attributesRead(set: CompiledFlagSet): string[] {
  const attributes = new Set(IDENTITY_ATTRIBUTES);
  for (const segment of set.segments.values()) conditionAttributes(segment.source.conditions, attributes);
  for (const { flag } of set.flags.values()) {
    for (const rule of flag.rules) {
      conditionAttributes(rule.conditions, attributes);
      if ('distribution' in rule.serve && rule.serve.bucketBy !== undefined) attributes.add(rule.serve.bucketBy);
    }
    if (flag.rollout?.bucketBy !== undefined) attributes.add(flag.rollout.bucketBy);
  }
  return [...attributes].sort();
}

/**
 * A function copying only the given attribute paths of a context (dotted paths as nested objects);
 * it answers null for a context with none of them.
 */
export function attributeKeeper(paths: readonly string[]): (context: EvaluationContext) => Record<string, unknown> | null {
  const readers = paths.map((path) => ({ parts: path.split('.'), read: compileAttributeReader(path) }));
  return (context) => {
    let kept: Record<string, unknown> | null = null;
    for (const { parts, read } of readers) {
      const value = read(context);
      if (value === undefined) continue;
      kept ??= {};
      let into = kept;
      for (const part of parts.slice(0, -1)) {
        const next = into[part];
        into = (typeof next === 'object' && next !== null ? next : (into[part] = {})) as Record<string, unknown>;
      }
      into[parts.at(-1)!] = value;
    }
    return kept;
  };
}

/** One side of a comparison: the flags, segments and engaged killswitches a set is compiled from. */
export interface ImpactWorld {
  flags: readonly Flag[];
  segments: readonly Segment[];
  killswitches: readonly string[];
}

/** An answer as the impact compares it: value (as JSON) or variant, and reason; `not_found` when the flag is gone. */
export interface Outcome {
  value: string;
  variant: string | null;
  reason: string;
}

export interface Transition {
  from: Outcome;
  to: Outcome;
  count: number;
  /** Of the flag's sampled contexts. */
  share: number;
  /** A few contexts that move so, with their identity attributes pseudonymised. */
  examples: Record<string, unknown>[];
}

export interface FlagImpact {
  flagKey: string;
  /** How many sampled contexts were evaluated, and whether they are the flag's own sample or the overall one. */
  sampled: number;
  sample: 'flag' | 'overall';
  /** Contexts whose answer (value, variant or reason) changes. */
  changed: number;
  changedShare: number;
  /** Of those, contexts that get another value or variant (the rest keep it, for another reason). */
  valueChanged: number;
  valueChangedShare: number;
  /** Every pair of (current, proposed) answers met, the unchanged ones too, most frequent first. */
  transitions: Transition[];
  /**
   * Attributes the proposed flag reads that none of its sampled contexts carries: the sample keeps
   * only what the live set reads, so a rule on a new attribute is judged as if nobody had it.
   */
  unsampledAttributes: string[];
  /** One line for people: "moves 12.4% of sampled contexts (1,240 of 10,000) to another value, most from false to true". */
  summary: string;
}

export interface ImpactInput {
  before: ImpactWorld;
  after: ImpactWorld;
  /** The flags whose answers are compared: the changed ones and every flag depending on them. */
  flagKeys: readonly string[];
  /** Sampled contexts per flag key; a flag without its own uses `overall`. */
  samples: Readonly<Record<string, readonly EvaluationContext[]>>;
  overall: readonly EvaluationContext[];
  /** Examples kept per transition. */
  examplesPerTransition: number;
  /** Turns an identity into a stable pseudonym (the caller owns the key; the engine does no crypto). */
  pseudonymise: (identity: string) => string;
}

const NOT_FOUND: Outcome = Object.freeze({ value: 'null', variant: null, reason: 'not_found' });

function outcomeOf(result: EvaluationResult | undefined): Outcome {
  if (result === undefined) return NOT_FOUND;
  return { value: JSON.stringify(result.value), variant: result.variant, reason: result.reason };
}

function describe(outcome: Outcome): string {
  if (outcome.reason === 'not_found') return 'not_found';
  return outcome.variant === null ? outcome.value : `${outcome.variant} (${outcome.value})`;
}

function pseudonymised(context: EvaluationContext, pseudonymise: (identity: string) => string, identityPaths: ReadonlySet<string>): Record<string, unknown> {
  const copy = structuredClone(context) as Record<string, unknown>;
  for (const path of identityPaths) {
    const parts = path.split('.');
    let holder: unknown = copy;
    for (const part of parts.slice(0, -1)) holder = typeof holder === 'object' && holder !== null ? (holder as Record<string, unknown>)[part] : undefined;
    const last = parts.at(-1)!;
    if (typeof holder === 'object' && holder !== null && last in holder) {
      const record = holder as Record<string, unknown>;
      record[last] = pseudonymise(String(record[last]));
    }
  }
  return copy;
}

/** Identity attributes of a world: the fixed ones and every bucketBy (a bucketing attribute identifies too). */
function identityPathsOf(flags: readonly Flag[]): Set<string> {
  const paths = new Set(IDENTITY_ATTRIBUTES);
  for (const flag of flags) {
    if (flag.rollout?.bucketBy !== undefined) paths.add(flag.rollout.bucketBy);
    for (const rule of flag.rules) if ('distribution' in rule.serve && rule.serve.bucketBy !== undefined) paths.add(rule.serve.bucketBy);
  }
  return paths;
}

const formatCount = (count: number) => count.toLocaleString('en-US');
const percent = (share: number) => `${(Math.round(share * 1000) / 10).toFixed(1)}%`;

/** The one-line summary of a flag's impact: who gets another value, and who only another reason. */
function summarise(flagKey: string, sampled: number, transitions: readonly Transition[]): string {
  if (sampled === 0) return `${flagKey}: no sampled contexts to judge by`;
  const moves = transitions.filter((transition) => !sameServed(transition.from, transition.to));
  const valueChanged = moves.reduce((sum, transition) => sum + transition.count, 0);
  const reasonOnly = transitions.filter((transition) => sameServed(transition.from, transition.to) && !sameOutcome(transition.from, transition.to)).reduce((sum, transition) => sum + transition.count, 0);
  const others = reasonOnly > 0 ? `; ${formatCount(reasonOnly)} more keep their value for another reason` : '';
  if (valueChanged === 0) return `${flagKey}: moves none of ${formatCount(sampled)} sampled contexts to another value${others}`;
  const main = moves[0]!;
  const more = moves.length > 1 ? `, and ${moves.length - 1} other move${moves.length > 2 ? 's' : ''}` : '';
  return `${flagKey}: moves ${percent(valueChanged / sampled)} of sampled contexts (${formatCount(valueChanged)} of ${formatCount(sampled)}) to another value, most from ${describe(main.from)} to ${describe(main.to)}${more}${others}`;
}

function sameServed(a: Outcome, b: Outcome): boolean {
  return a.value === b.value && a.variant === b.variant && (a.reason === 'not_found') === (b.reason === 'not_found');
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return a.value === b.value && a.variant === b.variant && a.reason === b.reason;
}

/** The attribute paths one flag's rules read, through the segments they use. */
function attributesOfFlag(flag: Flag | undefined, segments: readonly Segment[]): string[] {
  if (flag === undefined) return [];
  const attributes = new Set<string>();
  for (const rule of flag.rules) {
    conditionAttributes(rule.conditions, attributes);
    for (const condition of rule.conditions) {
      if ('segment' in condition) conditionAttributes(segments.find((segment) => segment.key === condition.segment)?.conditions ?? [], attributes);
    }
  }
  return [...attributes].sort();
}

function compileWorld(world: ImpactWorld): CompiledFlagSet {
  return compileFlagSet({ flags: world.flags, segments: world.segments, killswitches: new Set(world.killswitches) });
}

/**
 * Compares each given flag's answers under two flag sets over sampled contexts: the transition
 * matrix from the current answer to the proposed one, with counts, shares and a few pseudonymised
 * examples per transition. Pure: both sets are compiled here from plain definitions, so a caller
 * can run it in a worker thread, away from the evaluations it must not stall.
 */
export function computeImpact(input: ImpactInput): FlagImpact[] {
  const before = compileWorld(input.before);
  const after = compileWorld(input.after);
  const identityPaths = identityPathsOf([...input.before.flags, ...input.after.flags]);
  return input.flagKeys.map((flagKey) => {
    const own = input.samples[flagKey];
    const contexts = own !== undefined && own.length > 0 ? own : input.overall;
    const cells = new Map<string, Transition>();
    let changed = 0;
    let valueChanged = 0;
    for (const raw of contexts) {
      const context = asContext(raw);
      const from = outcomeOf(evaluate(before, flagKey, context));
      const to = outcomeOf(evaluate(after, flagKey, context));
      const moved = !sameOutcome(from, to);
      if (moved) changed++;
      if (!sameServed(from, to)) valueChanged++;
      const cellKey = JSON.stringify([from, to]);
      let cell = cells.get(cellKey);
      if (cell === undefined) {
        cell = { from, to, count: 0, share: 0, examples: [] };
        cells.set(cellKey, cell);
      }
      cell.count++;
      if (moved && cell.examples.length < input.examplesPerTransition) cell.examples.push(pseudonymised(context, input.pseudonymise, identityPaths));
    }
    const sampled = contexts.length;
    const unsampledAttributes = attributesOfFlag(input.after.flags.find((flag) => flag.key === flagKey), input.after.segments)
      .filter((path) => {
        const read = compileAttributeReader(path);
        return !contexts.some((context) => read(asContext(context)) !== undefined);
      });
    const transitions = [...cells.values()]
      .map((cell) => ({ ...cell, share: sampled === 0 ? 0 : cell.count / sampled }))
      .sort((a, b) => b.count - a.count);
    return {
      flagKey,
      sampled,
      sample: own !== undefined && own.length > 0 ? 'flag' : 'overall',
      changed,
      changedShare: sampled === 0 ? 0 : changed / sampled,
      valueChanged,
      valueChangedShare: sampled === 0 ? 0 : valueChanged / sampled,
      transitions,
      unsampledAttributes,
      summary: summarise(flagKey, sampled, transitions),
    };
  });
}

/**
 * The flags whose answers a change to `changed` (flags, or the flags using a changed segment or
 * killswitch) can move: those, and every flag that has one of them as a prerequisite, transitively.
 */
export function dependentsOf(flags: readonly Pick<Flag, 'key' | 'prerequisites'>[], changed: Iterable<string>): string[] {
  const dependents = new Map<string, string[]>();
  for (const flag of flags) {
    for (const { flagKey } of flag.prerequisites) {
      const list = dependents.get(flagKey);
      if (list) list.push(flag.key);
      else dependents.set(flagKey, [flag.key]);
    }
  }
  const reached = new Set<string>();
  const queue = [...changed];
  while (queue.length) {
    const key = queue.pop()!;
    if (reached.has(key)) continue;
    reached.add(key);
    queue.push(...(dependents.get(key) ?? []));
  }
  return [...reached].sort();
}

/** `keys` and every flag they need to evaluate (their prerequisites, transitively), from `flags`. */
export function prerequisiteClosure(flags: ReadonlyMap<string, Flag>, keys: Iterable<string>): Flag[] {
  const closure = new Map<string, Flag>();
  const queue = [...keys];
  while (queue.length) {
    const key = queue.pop()!;
    const flag = flags.get(key);
    if (flag === undefined || closure.has(key)) continue;
    closure.set(key, flag);
    for (const prerequisite of flag.prerequisites) queue.push(prerequisite.flagKey);
  }
  return [...closure.values()];
}
