// The benchmark's flag mix in flagd's flag-definition format (https://flagd.dev/reference/flag-definitions/),
// for the flagd-core OFREP server that `npm run bench:http` measures beside ours: the same flags, the
// same rules, the same segments (as shared `$evaluators`), the same rollouts, so both evaluate the
// same work. Run it to print the translation: `node bench/flagd-flag-set.ts [flags]`.
//
// flagd's targeting is JSONLogic, which differs from our rules in a few places the translation has to
// bridge, and refuses where it cannot:
// - flagd has no regular expressions: a pattern that is a literal anchored at one end (`^abc`,
//   `abc$`, as the mix's `@example\.com$`) becomes starts_with/ends_with; any other pattern throws.
// - a percentage rollout becomes `fractional` over `userId`, with weights in thousandths (our
//   precision); flagd hashes with its own seed, so a given user may land on the other side, but the
//   work per evaluation is the same.
// - prerequisites, allow/deny lists, killswitches and disabled flags are not in the mix and throw.
import type { Condition, FlagDefinition, FlagValue, Rollout, SegmentDefinition, Serve } from '@flagship/engine';
import { benchFlags, benchSegments } from './flag-mix.ts';

type JsonLogic = Record<string, unknown>;

export interface FlagdFlag {
  state: 'ENABLED';
  variants: Record<string, FlagValue>;
  defaultVariant: string;
  targeting?: JsonLogic;
}

export interface FlagdConfiguration {
  $schema: string;
  flags: Record<string, FlagdFlag>;
  $evaluators: Record<string, JsonLogic>;
}

const LITERAL = /^[^\\^$.*+?()[\]{}|]*$/;

/** The literal a regex matches, when the pattern is only a literal with (escaped) dots anchored at one end. */
function anchoredLiteral(pattern: string): { at: 'start' | 'end'; text: string } | undefined {
  const unescaped = pattern.replace(/\\\./g, '.');
  const at = pattern.startsWith('^') ? 'start' : pattern.endsWith('$') ? 'end' : undefined;
  if (!at) return undefined;
  const body = at === 'start' ? unescaped.slice(1) : unescaped.slice(0, -1);
  return LITERAL.test(body.replace(/\./g, '')) ? { at, text: body } : undefined;
}

function condition(condition: Condition): JsonLogic {
  if ('segment' in condition) return negated({ $ref: condition.segment }, condition.negate);
  const attribute = { var: condition.attribute };
  let logic: JsonLogic;
  switch (condition.op) {
    case 'equals':
      logic = { '==': [attribute, condition.value] };
      break;
    case 'in':
      logic = { in: [attribute, condition.value] };
      break;
    case 'regex': {
      const literal = anchoredLiteral(condition.value);
      if (!literal) throw new Error(`flagd has no regular expressions, and /${condition.value}/ is not an anchored literal`);
      logic = { [literal.at === 'start' ? 'starts_with' : 'ends_with']: [attribute, literal.text] };
      break;
    }
    case 'semver_eq':
    case 'semver_lt':
    case 'semver_lte':
    case 'semver_gt':
    case 'semver_gte':
      logic = { sem_ver: [attribute, { semver_eq: '=', semver_lt: '<', semver_lte: '<=', semver_gt: '>', semver_gte: '>=' }[condition.op], condition.value] };
      break;
    default:
      throw new Error(`the translation does not cover the operator ${condition.op}`);
  }
  return negated(logic, condition.negate);
}

function negated(logic: JsonLogic, negate: boolean | undefined): JsonLogic {
  return negate ? { '!': logic } : logic;
}

function allOf(conditions: readonly Condition[]): JsonLogic {
  const each = conditions.map(condition);
  return each.length === 1 ? each[0]! : { and: each };
}

/** `fractional` weights are integers: thousandths of a percent, our precision. */
function thousandths(percent: number): number {
  return Math.round(percent * 1000);
}

function split(rollout: Rollout | Extract<Serve, { distribution: unknown }>, inShare: string, outOfShare: string): JsonLogic {
  const bucketBy = { var: rollout.bucketBy ?? 'userId' };
  if ('percentage' in rollout) return { fractional: [bucketBy, [inShare, thousandths(rollout.percentage)], [outOfShare, thousandths(100 - rollout.percentage)]] };
  return { fractional: [bucketBy, ...rollout.distribution.map((weighted) => [weighted.variant, thousandths(weighted.weight)])] };
}

/** One flag in flagd's format: its values as variants, its rules and rollout as one `if` chain. */
export function toFlagdFlag(flag: FlagDefinition): FlagdFlag {
  if (!flag.enabled || flag.killswitch || flag.prerequisites.length || flag.allowlist.length || flag.denylist.length) {
    throw new Error(`${flag.key}: the translation covers enabled flags without prerequisites, lists or killswitches`);
  }
  const variants: Record<string, FlagValue> = { ...flag.variants, default: flag.defaultValue };
  if (flag.onValue !== undefined) variants.on = flag.onValue;
  const branches: unknown[] = [];
  for (const rule of flag.rules) {
    let served: unknown;
    if ('value' in rule.serve) {
      variants[`rule-${rule.id}`] = rule.serve.value;
      served = `rule-${rule.id}`;
    } else if ('variant' in rule.serve) {
      served = rule.serve.variant;
    } else {
      served = split(rule.serve, '', '');
    }
    branches.push(allOf(rule.conditions), served);
  }
  const fallThrough = flag.rollout ? split(flag.rollout, 'on', 'default') : 'default';
  const targeting = branches.length ? { if: [...branches, fallThrough] } : typeof fallThrough === 'string' ? undefined : fallThrough;
  return { state: 'ENABLED', variants, defaultVariant: 'default', ...(targeting ? { targeting } : {}) };
}

/** The whole set: flags by key, segments as `$evaluators` their rules refer to with `$ref`. */
export function toFlagdConfiguration(flags: readonly FlagDefinition[], segments: readonly SegmentDefinition[]): FlagdConfiguration {
  return {
    $schema: 'https://flagd.dev/schema/v0/flags.json',
    flags: Object.fromEntries(flags.map((flag) => [flag.key, toFlagdFlag(flag)])),
    $evaluators: Object.fromEntries(segments.map((segment) => [segment.key, allOf(segment.conditions)])),
  };
}

if (import.meta.main) {
  const count = Number(process.argv[2] ?? 10_000);
  process.stdout.write(`${JSON.stringify(toFlagdConfiguration(benchFlags(count), benchSegments()), null, 2)}\n`);
}
