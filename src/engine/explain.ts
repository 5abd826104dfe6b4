import type { CompiledAttributeCondition, CompiledCondition } from './compile-condition.ts';
import { testPresent } from './compile-condition.ts';
import type { CompiledFlag, CompiledFlagSet, CompiledSplit } from './compile-flag-set.ts';
import { asContext, MAX_PREREQUISITE_DEPTH, pickSplit } from './evaluate.ts';
import { bucketWith } from './hash.ts';
import { asIdentity, identitySource } from './read-identity.ts';
import type { EvaluationContext, EvaluationResult, FlagValue } from './types.ts';

/**
 * Explain mode: the same walk as `evaluate`, recording every step and why it went the way it did.
 * It is for people debugging a flag, so it favours completeness over speed: every condition of a
 * rule is traced (not only up to the first that fails), and prerequisites carry their own
 * explanation. The `result` is the very object `evaluate` returns for the same input.
 */

/** `served`: this step decided the result. `continue`: evaluation went on to the next step. */
export type ExplanationOutcome = 'served' | 'continue';

export interface IdentityTrace {
  /** The attribute the identity came from (`userId`, `targetingKey`, `projectId`, or a bucketBy path). */
  readonly attribute: string;
  readonly value: string;
}

export type ConditionTrace =
  | {
      readonly kind: 'attribute';
      readonly attribute: string;
      readonly op: string;
      readonly value?: unknown;
      readonly negate: boolean;
      /** The attribute's value in the context; absent when missing. */
      readonly actual?: unknown;
      readonly missing: boolean;
      readonly held: boolean;
      readonly message: string;
    }
  | {
      readonly kind: 'segment';
      readonly segment: string;
      readonly negate: boolean;
      /** False when the segment does not exist (the condition then fails closed). */
      readonly found: boolean;
      readonly held: boolean;
      readonly conditions: readonly ConditionTrace[];
      readonly message: string;
    };

export interface SplitTrace {
  readonly salt: string;
  readonly bucketBy: string;
  readonly identity: IdentityTrace | null;
  /** 0–99999, or null without an identity. */
  readonly bucket: number | null;
  /** Each variant with the exclusive upper bucket bound of its share. */
  readonly variants: readonly { readonly variant: string; readonly upTo: number }[];
  readonly variant: string | null;
}

export type ExplanationStep =
  | { readonly step: 'enabled'; readonly enabled: boolean; readonly outcome: ExplanationOutcome; readonly message: string }
  | { readonly step: 'killswitch'; readonly category: string; readonly engaged: boolean; readonly outcome: ExplanationOutcome; readonly message: string }
  | {
      readonly step: 'prerequisite';
      readonly flagKey: string;
      readonly required: FlagValue;
      /** The prerequisite flag's value for this context; null when it is missing or archived. */
      readonly actual: FlagValue | null;
      readonly met: boolean;
      readonly explanation: Explanation | null;
      readonly outcome: ExplanationOutcome;
      readonly message: string;
    }
  | {
      readonly step: 'denylist' | 'allowlist';
      readonly checked: readonly IdentityTrace[];
      readonly matched: IdentityTrace | null;
      readonly outcome: ExplanationOutcome;
      readonly message: string;
    }
  | {
      readonly step: 'rule';
      readonly ruleId: string;
      readonly matched: boolean;
      readonly conditions: readonly ConditionTrace[];
      readonly split?: SplitTrace;
      readonly outcome: ExplanationOutcome;
      readonly message: string;
    }
  | {
      readonly step: 'rollout';
      readonly kind: 'percentage' | 'distribution';
      readonly salt: string;
      readonly bucketBy: string;
      readonly identity: IdentityTrace | null;
      readonly bucket: number | null;
      /** Percentage rollouts: in the rollout when bucket < threshold = round(percentage × 1000). */
      readonly threshold?: number;
      readonly inRollout?: boolean;
      readonly split?: SplitTrace;
      readonly outcome: ExplanationOutcome;
      readonly message: string;
    }
  | { readonly step: 'default'; readonly outcome: 'served'; readonly message: string };

export interface Explanation {
  readonly flagKey: string;
  readonly flagVersion: number;
  readonly result: EvaluationResult;
  readonly steps: readonly ExplanationStep[];
}

function show(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

function traceAttribute(condition: CompiledAttributeCondition, context: EvaluationContext): ConditionTrace {
  const { source, negate } = condition;
  const actual = condition.read(context);
  const base = { kind: 'attribute' as const, attribute: source.attribute, op: source.op, ...(source.op === 'exists' ? {} : { value: source.value }), negate };
  const described = `${source.attribute} ${negate ? 'not ' : ''}${source.op}${source.op === 'exists' ? '' : ` ${show(source.value)}`}`;
  if (actual === undefined || actual === null) {
    const held = condition.whenMissing;
    return { ...base, missing: true, held, message: `${described}: the attribute is missing, so the condition ${held ? 'holds' : 'fails'}` };
  }
  const passed = testPresent(condition.test, actual);
  const held = negate ? !passed : passed;
  return {
    ...base,
    actual,
    missing: false,
    held,
    message: `${described}: ${source.attribute} is ${show(actual)}, so the condition ${held ? 'holds' : 'fails'}`,
  };
}

function traceCondition(condition: CompiledCondition, context: EvaluationContext): ConditionTrace {
  if (condition.kind === 'attribute') return traceAttribute(condition, context);
  const { segment, negate } = condition;
  const key = condition.source.segment;
  if (segment === undefined) {
    return { kind: 'segment', segment: key, negate, found: false, held: false, conditions: [], message: `segment "${key}" does not exist, so the condition fails` };
  }
  const conditions = segment.conditions.map((c) => traceAttribute(c, context));
  const inSegment = conditions.every((c) => c.held);
  const held = negate ? !inSegment : inSegment;
  return {
    kind: 'segment',
    segment: key,
    negate,
    found: true,
    held,
    conditions,
    message: `the context is ${inSegment ? '' : 'not '}in segment "${key}"${negate ? ' (negated)' : ''}, so the condition ${held ? 'holds' : 'fails'}`,
  };
}

function traceSplit(split: CompiledSplit, context: EvaluationContext): SplitTrace {
  const identity = identitySource(context, split.bucketBy);
  const bucket = identity === null ? null : bucketWith(split.salt, identity.value);
  const picked = pickSplit(split, context);
  return {
    salt: split.salt.salt,
    bucketBy: split.bucketBy,
    identity,
    bucket,
    variants: split.variants.map((variant, i) => ({ variant, upTo: split.thresholds[i]! })),
    variant: picked?.variant ?? null,
  };
}

function listTrace(list: ReadonlySet<string>, flag: CompiledFlag, context: EvaluationContext): { checked: IdentityTrace[]; matched: IdentityTrace | null } {
  const lists = flag.lists!;
  const checked: IdentityTrace[] = [];
  let matched: IdentityTrace | null = null;
  for (let i = 0; i < lists.readers.length; i++) {
    const value = asIdentity(lists.readers[i]!(context));
    if (value === undefined) continue;
    const trace = { attribute: lists.attributes[i]!, value };
    checked.push(trace);
    if (matched === null && list.has(value)) matched = trace;
  }
  return { checked, matched };
}

function explainFlag(flag: CompiledFlag, context: EvaluationContext, set: CompiledFlagSet, depth: number): Explanation {
  const steps: ExplanationStep[] = [];
  const done = (result: EvaluationResult): Explanation => ({ flagKey: flag.key, flagVersion: flag.version, result, steps });

  steps.push({
    step: 'enabled',
    enabled: flag.enabled,
    outcome: flag.enabled ? 'continue' : 'served',
    message: flag.enabled ? 'the flag is enabled' : 'the flag is disabled: offValue, reason off',
  });
  if (!flag.enabled) return done(flag.offResult);

  if (flag.killswitch !== null) {
    const engaged = set.killswitches.has(flag.killswitch);
    steps.push({
      step: 'killswitch',
      category: flag.killswitch,
      engaged,
      outcome: engaged ? 'served' : 'continue',
      message: engaged ? `killswitch "${flag.killswitch}" is engaged: offValue, reason off` : `killswitch "${flag.killswitch}" is not engaged`,
    });
    if (engaged) return done(flag.offResult);
  }

  for (const prerequisite of flag.prerequisites) {
    const target = set.flags.get(prerequisite.flagKey);
    if (target === undefined || depth >= MAX_PREREQUISITE_DEPTH) {
      steps.push({
        step: 'prerequisite',
        flagKey: prerequisite.flagKey,
        required: prerequisite.required,
        actual: null,
        met: false,
        explanation: null,
        outcome: 'served',
        message:
          target === undefined
            ? `prerequisite "${prerequisite.flagKey}" is missing or archived: offValue, reason prerequisite_failed`
            : `prerequisites chain deeper than ${MAX_PREREQUISITE_DEPTH}: offValue, reason prerequisite_failed`,
      });
      return done(prerequisite.failed);
    }
    const explanation = explainFlag(target, context, set, depth + 1);
    const actual = explanation.result.value;
    const met = prerequisite.matches(actual);
    steps.push({
      step: 'prerequisite',
      flagKey: prerequisite.flagKey,
      required: prerequisite.required,
      actual,
      met,
      explanation,
      outcome: met ? 'continue' : 'served',
      message: met
        ? `prerequisite "${prerequisite.flagKey}" is ${show(actual)} as required`
        : `prerequisite "${prerequisite.flagKey}" is ${show(actual)}, not ${show(prerequisite.required)}: offValue, reason prerequisite_failed`,
    });
    if (!met) return done(prerequisite.failed);
  }

  const lists = flag.lists;
  if (lists !== null && lists.deny !== null) {
    const { checked, matched } = listTrace(lists.deny, flag, context);
    steps.push({
      step: 'denylist',
      checked,
      matched,
      outcome: matched === null ? 'continue' : 'served',
      message: matched === null ? 'no identity is on the denylist' : `${matched.attribute} "${matched.value}" is on the denylist: offValue`,
    });
    if (matched !== null) return done(lists.denied);
  }
  if (lists !== null && lists.allow !== null && lists.allowed !== null) {
    const { checked, matched } = listTrace(lists.allow, flag, context);
    steps.push({
      step: 'allowlist',
      checked,
      matched,
      outcome: matched === null ? 'continue' : 'served',
      message: matched === null ? 'no identity is on the allowlist' : `${matched.attribute} "${matched.value}" is on the allowlist: onValue`,
    });
    if (matched !== null) return done(lists.allowed);
  }

  for (const rule of flag.rules) {
    const conditions = rule.conditions.map((c) => traceCondition(c, context));
    const matched = conditions.every((c) => c.held);
    if (!matched) {
      const failed = conditions.filter((c) => !c.held).length;
      steps.push({ step: 'rule', ruleId: rule.id, matched, conditions, outcome: 'continue', message: `rule "${rule.id}" does not match: ${failed} of ${conditions.length} conditions fail` });
      continue;
    }
    if (rule.serve.result !== null) {
      steps.push({ step: 'rule', ruleId: rule.id, matched, conditions, outcome: 'served', message: `rule "${rule.id}" matches and serves its value` });
      return done(rule.serve.result);
    }
    const split = traceSplit(rule.serve.split!, context);
    const picked = pickSplit(rule.serve.split!, context);
    steps.push({
      step: 'rule',
      ruleId: rule.id,
      matched,
      conditions,
      split,
      outcome: picked === null ? 'continue' : 'served',
      message:
        picked === null
          ? `rule "${rule.id}" matches but its distribution needs an identity (${split.bucketBy}, projectId): skipped`
          : `rule "${rule.id}" matches; bucket ${split.bucket} picks variant "${split.variant}"`,
    });
    if (picked !== null) return done(picked);
  }

  const rollout = flag.rollout;
  if (rollout !== null && rollout.percentage !== null) {
    const p = rollout.percentage;
    const identity = identitySource(context, p.bucketBy);
    const bucket = identity === null ? null : bucketWith(p.salt, identity.value);
    const inRollout = bucket === null ? undefined : bucket < p.threshold;
    steps.push({
      step: 'rollout',
      kind: 'percentage',
      salt: p.salt.salt,
      bucketBy: p.bucketBy,
      identity,
      bucket,
      threshold: p.threshold,
      ...(inRollout === undefined ? {} : { inRollout }),
      outcome: bucket === null ? 'continue' : 'served',
      message:
        bucket === null
          ? `no identity (${p.bucketBy}, projectId) to bucket: the rollout is skipped`
          : `bucket ${bucket} is ${inRollout === true ? 'below' : 'not below'} ${p.threshold}: ${inRollout === true ? 'in the rollout, onValue' : 'outside the rollout, defaultValue'}`,
    });
    if (inRollout !== undefined) return done(inRollout ? p.inResult : p.outResult);
  } else if (rollout !== null && rollout.split !== null) {
    const split = traceSplit(rollout.split, context);
    const picked = pickSplit(rollout.split, context);
    steps.push({
      step: 'rollout',
      kind: 'distribution',
      salt: split.salt,
      bucketBy: split.bucketBy,
      identity: split.identity,
      bucket: split.bucket,
      split,
      outcome: picked === null ? 'continue' : 'served',
      message: picked === null ? `no identity (${split.bucketBy}, projectId) to bucket: the rollout is skipped` : `bucket ${split.bucket} picks variant "${split.variant}"`,
    });
    if (picked !== null) return done(picked);
  }

  steps.push({ step: 'default', outcome: 'served', message: 'nothing else applied: defaultValue, reason default' });
  return done(flag.defaultResult);
}

/**
 * Evaluates a flag and records why: every step in the contract's order, each prerequisite with its
 * own explanation, each rule with each condition (the attribute's value and whether it held), the
 * bucket and threshold of a rollout or distribution.
 *
 * @returns the explanation, or `undefined` when the flag is not in the set (missing or archived).
 */
export function explain(set: CompiledFlagSet, flagKey: string, context: EvaluationContext): Explanation | undefined {
  const flag = set.flags.get(flagKey);
  if (flag === undefined) return undefined;
  return explainFlag(flag, asContext(context), set, 0);
}
