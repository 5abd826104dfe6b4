import { checkConditions } from './check-conditions.ts';
import { formatZodIssues } from './format-zod-issues.ts';
import { flagInputSchema, LIMITS } from './schema.ts';
import type { FlagDefinition, FlagType, FlagValue, Serve, ValidationIssue, ValidationResult, WeightedVariant } from './types.ts';

/** Default cap on one `json` (or `string`) value, serialized as UTF-8 JSON. */
export const DEFAULT_MAX_JSON_BYTES = 32 * 1024;

/** Rule ids the engine itself reports for the lists. */
const RESERVED_RULE_IDS = new Set(['allowlist', 'denylist']);

export interface ValidateFlagOptions {
  /** Cap on one `json` or `string` value as UTF-8 JSON bytes (default 32 KiB). */
  maxJsonBytes?: number;
}

/** UTF-8 byte length of a string, without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

const TYPE_NAMES: Record<FlagType, string> = {
  boolean: 'a boolean',
  string: 'a string',
  number: 'a number',
  json: 'a JSON object or array',
};

function hasType(value: FlagValue, type: FlagType): boolean {
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number';
    case 'json':
      return typeof value === 'object' && value !== null;
  }
}

/** Why `value` cannot be served by a flag of `type`, or null. Shared with the cross-flag checks. */
export function valueTypeError(value: FlagValue, type: FlagType, because = `the flag's type is ${type}`): string | null {
  if (hasType(value, type)) return null;
  const got = Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : JSON.stringify(value);
  return `expected ${TYPE_NAMES[type]} (${because}), got ${got}`;
}

/** True when a percentage or weight has at most three decimals, i.e. a whole number of buckets. */
function isMilli(percent: number): boolean {
  return Math.abs(percent * 1000 - Math.round(percent * 1000)) < 1e-6;
}

function checkDistribution(
  distribution: readonly WeightedVariant[],
  variants: Readonly<Record<string, FlagValue>>,
  path: string,
  issues: ValidationIssue[],
): void {
  const seen = new Set<string>();
  let total = 0;
  distribution.forEach(({ variant, weight }, index) => {
    if (!Object.hasOwn(variants, variant)) issues.push({ path: `${path}[${index}].variant`, message: `variant "${variant}" is not defined in variants` });
    if (seen.has(variant)) issues.push({ path: `${path}[${index}].variant`, message: `variant "${variant}" appears twice in the distribution` });
    seen.add(variant);
    if (!isMilli(weight)) issues.push({ path: `${path}[${index}].weight`, message: `${weight} has more than three decimals` });
    total += Math.round(weight * 1000);
  });
  if (total !== 100_000) issues.push({ path, message: `weights sum to ${total / 1000}; they must sum to 100` });
}

/**
 * Validates a flag as a client sends it: its shape (the zod schema), then everything the contract
 * asks beyond shape: every servable value has the flag's type and JSON values fit the size cap;
 * percentages and weights have at most three decimals and weights sum to 100; rule ids are unique
 * and not reserved; variants that rules and distributions name exist; regex patterns compile under
 * RE2 (no backreferences or lookaround: matching stays linear); versions and dates parse; an
 * identity is not both allowed and denied; a flag is not its own prerequisite.
 *
 * Fills the contract's defaults: `onValue` is `true` for boolean flags, `offValue` is
 * `defaultValue`, and the schema's defaults (enabled, empty lists, ...).
 *
 * References to other flags and segments need the world: see `checkFlagReferences` and
 * `findPrerequisiteCycle`.
 */
export function validateFlag(input: unknown, options: ValidateFlagOptions = {}): ValidationResult<FlagDefinition> {
  const parsed = flagInputSchema.safeParse(input);
  if (!parsed.success) return { ok: false, issues: formatZodIssues(parsed.error.issues, input) };
  const data = parsed.data as typeof parsed.data & Pick<FlagDefinition, 'rules' | 'rollout' | 'variants' | 'prerequisites'>;
  const maxBytes = options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES;
  const issues: ValidationIssue[] = [];
  const type = data.type;

  const checkValue = (value: FlagValue, path: string): void => {
    const typeError = valueTypeError(value, type);
    if (typeError !== null) {
      issues.push({ path, message: typeError });
      return;
    }
    if (typeof value === 'object' || typeof value === 'string') {
      const bytes = utf8Length(JSON.stringify(value));
      if (bytes > maxBytes) issues.push({ path, message: `is ${bytes} bytes as JSON; the limit is ${maxBytes}` });
    }
  };

  checkValue(data.defaultValue, 'defaultValue');
  const onValue = data.onValue ?? (type === 'boolean' ? true : undefined);
  if (data.onValue !== undefined) checkValue(data.onValue, 'onValue');
  if (data.offValue !== undefined) checkValue(data.offValue, 'offValue');

  const variantNames = Object.keys(data.variants);
  if (variantNames.length > LIMITS.variants) issues.push({ path: 'variants', message: `has ${variantNames.length} variants; the limit is ${LIMITS.variants}` });
  for (const name of variantNames) checkValue(data.variants[name]!, `variants.${name}`);

  if (onValue === undefined) {
    if (data.allowlist.length > 0) issues.push({ path: 'onValue', message: `is required for a ${type} flag with an allowlist: it is what allowlisted identities get` });
    if (data.rollout !== undefined && 'percentage' in data.rollout) {
      issues.push({ path: 'onValue', message: `is required for a ${type} flag with a percentage rollout: it is what the in-rollout share gets` });
    }
  }

  const denied = new Set(data.denylist);
  data.allowlist.forEach((identity, index) => {
    if (denied.has(identity)) issues.push({ path: `allowlist[${index}]`, message: `"${identity}" is also on the denylist; the denylist would win, so remove it from one` });
  });

  const prerequisiteKeys = new Set<string>();
  data.prerequisites.forEach(({ flagKey }, index) => {
    if (flagKey === data.key) issues.push({ path: `prerequisites[${index}].flagKey`, message: 'a flag cannot be its own prerequisite' });
    if (prerequisiteKeys.has(flagKey)) issues.push({ path: `prerequisites[${index}].flagKey`, message: `"${flagKey}" is listed twice` });
    prerequisiteKeys.add(flagKey);
  });

  const ruleIds = new Map<string, number>();
  data.rules.forEach((rule, index) => {
    const path = `rules[${index}]`;
    if (RESERVED_RULE_IDS.has(rule.id)) issues.push({ path: `${path}.id`, message: `"${rule.id}" is reserved for the flag's ${rule.id}` });
    const first = ruleIds.get(rule.id);
    if (first !== undefined) issues.push({ path: `${path}.id`, message: `duplicate rule id "${rule.id}" (also rules[${first}].id)` });
    else ruleIds.set(rule.id, index);
    checkConditions(rule.conditions, `${path}.conditions`, issues);
    checkServe(rule.serve, `${path}.serve`);
  });

  function checkServe(serve: Serve, path: string): void {
    if ('value' in serve) checkValue(serve.value, `${path}.value`);
    else if ('variant' in serve) {
      if (!Object.hasOwn(data.variants, serve.variant)) issues.push({ path: `${path}.variant`, message: `variant "${serve.variant}" is not defined in variants` });
    } else checkDistribution(serve.distribution, data.variants, `${path}.distribution`, issues);
  }

  const rollout = data.rollout;
  if (rollout !== undefined) {
    if ('percentage' in rollout) {
      if (!isMilli(rollout.percentage)) issues.push({ path: 'rollout.percentage', message: `${rollout.percentage} has more than three decimals` });
    } else checkDistribution(rollout.distribution, data.variants, 'rollout.distribution', issues);
  }

  if (issues.length > 0) return { ok: false, issues };

  const definition: FlagDefinition = {
    key: data.key,
    type,
    description: data.description,
    tags: data.tags,
    enabled: data.enabled,
    ...(onValue === undefined ? {} : { onValue }),
    offValue: data.offValue ?? data.defaultValue,
    defaultValue: data.defaultValue,
    variants: data.variants,
    allowlist: data.allowlist,
    denylist: data.denylist,
    prerequisites: data.prerequisites,
    rules: data.rules,
    ...(rollout === undefined ? {} : { rollout }),
    ...(data.killswitch === undefined ? {} : { killswitch: data.killswitch }),
    highImpact: data.highImpact,
    ...(data.owner === undefined ? {} : { owner: data.owner }),
    ...(data.expectedLifetime === undefined ? {} : { expectedLifetime: data.expectedLifetime }),
    ...(data.approvers === undefined ? {} : { approvers: data.approvers }),
  };
  return { ok: true, value: definition };
}
