import type { CompiledFlag, CompiledFlagSet, CompiledSplit } from './compile-flag-set.ts';
import { bucketWith } from './hash.ts';
import { asIdentity } from './read-identity.ts';
import type { EvaluationContext, EvaluationResult } from './types.ts';

/**
 * How deep prerequisites may chain. Cycles are refused on write (findPrerequisiteCycle); this guard
 * keeps evaluation total even if a cycle reached a compiled set anyway: past it, the prerequisite
 * counts as failed.
 */
export const MAX_PREREQUISITE_DEPTH = 64;

/** The variant result for the identity's bucket, or null without an identity (the step is skipped). */
export function pickSplit(split: CompiledSplit, context: EvaluationContext): EvaluationResult | null {
  const identity = split.identity(context);
  if (identity === undefined) return null;
  const bucket = bucketWith(split.salt, identity);
  const thresholds = split.thresholds;
  // The first variant whose cumulative weight × 1000 exceeds the bucket; the last threshold is 100000.
  for (let i = 0; i < thresholds.length; i++) {
    if (bucket < thresholds[i]!) return split.results[i]!;
  }
  return split.results[split.results.length - 1]!;
}

/**
 * One flag, in the contract's order: off/killswitch → prerequisites → denylist → allowlist → rules
 * → rollout → default. Returns one of the flag's precompiled results.
 */
export function runFlag(flag: CompiledFlag, context: EvaluationContext, set: CompiledFlagSet, depth: number): EvaluationResult {
  if (flag.constantResult !== null) return flag.constantResult;
  if (!flag.enabled) return flag.offResult;
  if (flag.killswitch !== null && set.killswitches.has(flag.killswitch)) return flag.offResult;

  const prerequisites = flag.prerequisites;
  for (let i = 0; i < prerequisites.length; i++) {
    const prerequisite = prerequisites[i]!;
    const target = set.flags.get(prerequisite.flagKey);
    // A missing or archived prerequisite fails closed, as does a chain past the depth guard.
    if (target === undefined || depth >= MAX_PREREQUISITE_DEPTH) return prerequisite.failed;
    if (!prerequisite.matches(runFlag(target, context, set, depth + 1).value)) return prerequisite.failed;
  }

  const lists = flag.lists;
  if (lists !== null) {
    const readers = lists.readers;
    if (lists.deny !== null) {
      for (let i = 0; i < readers.length; i++) {
        const id = asIdentity(readers[i]!(context));
        if (id !== undefined && lists.deny.has(id)) return lists.denied;
      }
    }
    if (lists.allow !== null && lists.allowed !== null) {
      for (let i = 0; i < readers.length; i++) {
        const id = asIdentity(readers[i]!(context));
        if (id !== undefined && lists.allow.has(id)) return lists.allowed;
      }
    }
  }

  const rules = flag.rules;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (!rule.holds(context)) continue;
    const serve = rule.serve;
    if (serve.result !== null) return serve.result;
    // A distribution without an identity is skipped: evaluation goes on with the next rule.
    const picked = pickSplit(serve.split!, context);
    if (picked !== null) return picked;
  }

  const rollout = flag.rollout;
  if (rollout !== null) {
    const percentage = rollout.percentage;
    if (percentage !== null) {
      const identity = percentage.identity(context);
      if (identity !== undefined) {
        return bucketWith(percentage.salt, identity) < percentage.threshold ? percentage.inResult : percentage.outResult;
      }
    } else {
      const picked = pickSplit(rollout.split!, context);
      if (picked !== null) return picked;
    }
  }
  return flag.defaultResult;
}

/**
 * Evaluates one flag for one context.
 *
 * @returns the result, or `undefined` when the flag is not in the set (missing or archived), which
 *   the API answers with 404 `not_found`. Never throws for any context.
 *   The result is a shared frozen object: read it, spread it, serialize it; do not mutate it.
 */
export function evaluate(set: CompiledFlagSet, flagKey: string, context: EvaluationContext): EvaluationResult | undefined {
  const flag = set.flags.get(flagKey);
  if (flag === undefined) return undefined;
  return runFlag(flag, asContext(context), set, 0);
}

const EMPTY_CONTEXT: EvaluationContext = Object.freeze({});

/** A JavaScript caller may pass anything: a non-object context is an empty one, never a TypeError. */
export function asContext(context: unknown): EvaluationContext {
  return typeof context === 'object' && context !== null ? (context as EvaluationContext) : EMPTY_CONTEXT;
}

/**
 * Evaluates many flags for one context: every flag of the set in the set's order, or the given
 * keys in the given order. Keys that are not in the set are left out of the result.
 */
export function evaluateAll(set: CompiledFlagSet, context: EvaluationContext, flagKeys?: readonly string[]): EvaluationResult[] {
  const results: EvaluationResult[] = [];
  context = asContext(context);
  if (flagKeys === undefined) {
    for (const flag of set.flags.values()) results.push(runFlag(flag, context, set, 0));
    return results;
  }
  for (const key of flagKeys) {
    const flag = set.flags.get(key);
    if (flag !== undefined) results.push(runFlag(flag, context, set, 0));
  }
  return results;
}
