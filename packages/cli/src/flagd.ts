import { byKey, compact, type Definition, type FlagDocument } from './flag-document.ts';
import { isPlainObject } from './plan.ts';

/**
 * Translates flagd's flag definition format (https://flagd.dev/reference/flag-definitions/) into a
 * Flagship document. What has the same meaning here is translated; anything else is refused by
 * name, never approximated: a flag that evaluated one way in flagd must not evaluate another way here.
 *
 * Maps: state, variants, defaultVariant, metadata.description, and targeting of the form
 * `{"if": [condition, "variant", …, "else-variant"]}` (nested ifs in the else position too), where a
 * condition is `and`/`or` of comparisons of one `{"var": …}` with constants: `==`/`===`, `!=`/`!==`,
 * `in` (value in a list, or text in an attribute), `starts_with`, `ends_with`, `sem_ver`, `<`, `>=`
 * (as range bounds), `!` of one of these; and `$ref` to `$evaluators` of that form.
 */
export interface FlagdTranslation {
  document: FlagDocument;
  /** Each flag that could not be translated, with why. */
  refused: { key: string; reason: string }[];
}

const FLAG_KEY = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const VARIANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

class Unsupported extends Error {}

const FRACTIONAL = '"fractional" buckets with flagd\'s own hashing; the same users would land in other buckets here (use a Flagship rollout or distribution instead)';

type Condition = Record<string, unknown>;

export function translateFlagd(source: unknown): FlagdTranslation {
  if (!isPlainObject(source) || !isPlainObject(source.flags)) throw new Unsupported('a flagd document is an object with "flags"');
  const evaluators = isPlainObject(source.$evaluators) ? source.$evaluators : {};
  const flags: Definition[] = [];
  const refused: { key: string; reason: string }[] = [];
  for (const [key, flag] of Object.entries(source.flags)) {
    try {
      flags.push(translateFlag(key, flag, evaluators));
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      refused.push({ key, reason: error.message });
    }
  }
  return { document: { segments: [], flags: flags.sort(byKey) }, refused };
}

export { Unsupported as UnsupportedFlagd };

function translateFlag(key: string, flag: unknown, evaluators: Record<string, unknown>): Definition {
  if (!FLAG_KEY.test(key)) throw new Unsupported('the key has characters a Flagship key cannot have (a-z, 0-9, ".", "_", "-"; lower case); rename it in the flagd file first');
  if (!isPlainObject(flag)) throw new Unsupported('not an object');
  const known = new Set(['state', 'variants', 'defaultVariant', 'targeting', 'metadata']);
  const unknown = Object.keys(flag).filter((field) => !known.has(field));
  if (unknown.length) throw new Unsupported(`unknown field ${unknown.join(', ')}`);
  if (flag.state !== 'ENABLED' && flag.state !== 'DISABLED') throw new Unsupported(`state "${String(flag.state)}" is neither ENABLED nor DISABLED`);
  if (!isPlainObject(flag.variants) || Object.keys(flag.variants).length === 0) throw new Unsupported('no variants');
  const variants = flag.variants;
  for (const name of Object.keys(variants)) if (!VARIANT_NAME.test(name)) throw new Unsupported(`variant name "${name}" has characters a Flagship variant name cannot have`);
  const type = typeOf(Object.values(variants));
  if (typeof flag.defaultVariant !== 'string' || !(flag.defaultVariant in variants)) {
    // flagd without a default variant answers with the caller's code default; Flagship always serves a value.
    throw new Unsupported('defaultVariant is missing or names no variant (Flagship flags always serve a value)');
  }
  let defaultVariant = flag.defaultVariant;
  const rules: { id: string; conditions: Condition[]; serve: { variant: string } }[] = [];
  if (flag.targeting !== undefined && !(isPlainObject(flag.targeting) && Object.keys(flag.targeting).length === 0)) {
    let branch: unknown = resolveRefs(flag.targeting, evaluators);
    for (;;) {
      if (typeof branch === 'string') {
        if (!(branch in variants)) throw new Unsupported(`targeting serves "${branch}", which is not a variant`);
        defaultVariant = branch;
        break;
      }
      if (branch === null || branch === undefined) break;
      if (isPlainObject(branch) && 'fractional' in branch) throw new Unsupported(FRACTIONAL);
      if (!isPlainObject(branch) || !Array.isArray(branch.if) || Object.keys(branch).length !== 1) throw new Unsupported(`targeting ${describe(branch)} is not an "if" of conditions and variant names`);
      const parts = branch.if as unknown[];
      for (let index = 0; index + 1 < parts.length; index += 2) {
        const served = parts[index + 1];
        if (typeof served !== 'string' || !(served in variants)) throw new Unsupported(`a targeting branch serves ${describe(served)}, not a variant name (computed variants do not map)`);
        // An "or" becomes one rule per alternative, each serving the same variant, in order.
        for (const conditions of alternatives(parts[index])) rules.push({ id: `rule-${rules.length + 1}`, conditions, serve: { variant: served } });
      }
      branch = parts.length % 2 === 1 ? parts.at(-1) : null;
    }
  }
  const description = isPlainObject(flag.metadata) && typeof flag.metadata.description === 'string' ? flag.metadata.description : undefined;
  return compact('flag', {
    key,
    type,
    ...(description ? { description } : {}),
    enabled: flag.state === 'ENABLED',
    defaultValue: variants[defaultVariant],
    variants,
    rules,
  });
}

function typeOf(values: unknown[]): string {
  const types = new Set(values.map((value) => (Array.isArray(value) || isPlainObject(value) ? 'json' : typeof value)));
  if (types.size !== 1) throw new Unsupported(`variants mix types (${[...types].join(', ')}); a Flagship flag has one type`);
  const [type] = types;
  if (type === 'boolean' || type === 'string' || type === 'number' || type === 'json') return type;
  throw new Unsupported(`variant values of type ${type} do not map`);
}

function resolveRefs(logic: unknown, evaluators: Record<string, unknown>, depth = 0): unknown {
  if (depth > 20) throw new Unsupported('$ref nests too deep');
  if (Array.isArray(logic)) return logic.map((item) => resolveRefs(item, evaluators, depth));
  if (!isPlainObject(logic)) return logic;
  if (typeof logic.$ref === 'string' && Object.keys(logic).length === 1) {
    if (!(logic.$ref in evaluators)) throw new Unsupported(`$ref "${logic.$ref}" names no evaluator`);
    return resolveRefs(evaluators[logic.$ref], evaluators, depth + 1);
  }
  return Object.fromEntries(Object.entries(logic).map(([key, value]) => [key, resolveRefs(value, evaluators, depth)]));
}

function alternatives(logic: unknown): Condition[][] {
  if (isPlainObject(logic) && Array.isArray(logic.or) && Object.keys(logic).length === 1) return logic.or.map((part) => conjunction(part));
  return [conjunction(logic)];
}

function conjunction(logic: unknown): Condition[] {
  if (isPlainObject(logic) && Array.isArray(logic.and) && Object.keys(logic).length === 1) return logic.and.flatMap((part) => conjunction(part));
  return [comparison(logic)];
}

function attributeOf(operand: unknown): string | null {
  if (!isPlainObject(operand) || Object.keys(operand).length !== 1) return null;
  const path = Array.isArray(operand.var) ? operand.var[0] : operand.var;
  if (typeof path !== 'string') return null;
  if (path.startsWith('$flagd.')) throw new Unsupported(`"${path}" (flagd's own context) has no Flagship counterpart`);
  return path;
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

const SEMVER: Record<string, string> = { '=': 'semver_eq', '<': 'semver_lt', '<=': 'semver_lte', '>': 'semver_gt', '>=': 'semver_gte' };

function comparison(logic: unknown): Condition {
  if (!isPlainObject(logic) || Object.keys(logic).length !== 1) throw new Unsupported(`condition ${describe(logic)} does not map`);
  const [operator, raw] = Object.entries(logic)[0]!;
  if (operator === '!') {
    const inner = comparison(Array.isArray(raw) ? raw[0] : raw);
    if (inner.negate) throw new Unsupported('a double negation does not map');
    return { ...inner, negate: true };
  }
  const args = Array.isArray(raw) ? raw : [raw];
  const attribute = attributeOf(args[0]);
  switch (operator) {
    case '==':
    case '===':
    case '!=':
    case '!==':
      if (attribute && isScalar(args[1]) && args.length === 2) return { attribute, op: 'equals', value: args[1], ...(operator.startsWith('!') ? { negate: true } : {}) };
      break;
    case 'in':
      if (attribute && Array.isArray(args[1]) && args[1].length > 0 && args[1].every(isScalar)) return { attribute, op: 'in', value: args[1] };
      if (typeof args[0] === 'string' && attributeOf(args[1])) return { attribute: attributeOf(args[1])!, op: 'contains', value: args[0] };
      break;
    case 'starts_with':
    case 'ends_with':
      if (attribute && typeof args[1] === 'string') return { attribute, op: operator, value: args[1] };
      break;
    case 'sem_ver':
      if (attribute && typeof args[1] === 'string' && SEMVER[args[1]] && typeof args[2] === 'string') return { attribute, op: SEMVER[args[1]], value: args[2] };
      break;
    case '>=':
      if (attribute && typeof args[1] === 'number' && args.length === 2) return { attribute, op: 'range', value: { min: args[1] } };
      break;
    case '<':
      if (attribute && typeof args[1] === 'number' && args.length === 2) return { attribute, op: 'range', value: { max: args[1] } };
      break;
    case 'fractional':
      throw new Unsupported(FRACTIONAL);
    default:
      throw new Unsupported(`the operator "${operator}" does not map`);
  }
  throw new Unsupported(`condition ${describe(logic)} does not map (compare one {"var": …} with constants)`);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
