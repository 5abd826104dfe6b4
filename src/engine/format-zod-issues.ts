import type { z } from 'zod';
import { ATTRIBUTE_PATH_PATTERN, FLAG_KEY_PATTERN, NAME_PATTERN, TAG_PATTERN } from './schema.ts';
import type { ValidationIssue } from './types.ts';

/**
 * Turns zod's issues into ones a person can act on: a readable path (`rules[0].serve`), one issue
 * per unknown field, "is required" for a missing field, the pattern's meaning instead of its source,
 * and, for a union (a condition, a serve, a rollout), the issues of the alternative the input was
 * evidently meant to be instead of those of every alternative.
 */

type Issue = z.core.$ZodIssue;
type PathKey = PropertyKey;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const PATTERN_MEANINGS = new Map<string, string>([
  [String(FLAG_KEY_PATTERN), 'must be 1–128 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit'],
  [String(NAME_PATTERN), 'must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit'],
  [String(ATTRIBUTE_PATH_PATTERN), 'must be an attribute name or a dotted path of names (letters, digits, "_", "$", "@", ":", "-")'],
  [String(TAG_PATTERN), 'must be 1–64 letters, digits, ".", "_", ":", "/" or "-", starting with a letter or digit'],
]);

/** `rules[0].conditions[1].value`; odd keys are quoted: `variants["a b"]`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function valueAt(input: unknown, path: readonly PathKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function hasKey(value: unknown, key: PathKey): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key);
}

/** zod's name for a type, in JSON's words. */
function typeName(expected: unknown): string {
  return expected === 'record' ? 'object' : String(expected);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * How far an input is from being a union alternative: a wrong root type rules it out, a missing
 * discriminator or required field or an unknown field makes it unlikely, anything else is a detail.
 */
function distance(branch: readonly Issue[], input: unknown): number {
  let score = 0;
  for (const issue of branch) {
    if (issue.path.length === 0 && issue.code === 'invalid_type') score += 100;
    else if (issue.code === 'unrecognized_keys' && issue.path.length === 0) score += 10 * issue.keys.length;
    else if (issue.path.length === 1 && (issue.code === 'invalid_type' || issue.code === 'invalid_union') && !hasKey(input, issue.path[0]!)) {
      score += issue.code === 'invalid_union' ? 50 : 10;
    } else score += 1;
  }
  return score;
}

/** Required fields of a union alternative that the input does not have. */
function missingKeys(branch: readonly Issue[], input: unknown): string[] {
  const keys: string[] = [];
  for (const issue of branch) {
    const key = issue.path[0];
    if (issue.path.length === 1 && typeof key === 'string' && (issue.code === 'invalid_type' || issue.code === 'invalid_union') && !hasKey(input, key)) {
      keys.push(key);
    }
  }
  return keys;
}

function flatten(issues: readonly Issue[], input: unknown, base: readonly PathKey[], out: ValidationIssue[]): void {
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    const here = valueAt(input, path);
    switch (issue.code) {
      case 'invalid_union': {
        if (issue.errors.length === 0) {
          // A discriminated union with no matching discriminator (an unknown `op`).
          const options = 'options' in issue && Array.isArray(issue.options) ? issue.options.map(String) : [];
          const name = formatPath(issue.path.slice(-1)) || 'value';
          out.push({
            path: formatPath(path),
            message: here === undefined ? `is required: one of ${options.join(', ')}` : `unknown ${name} ${JSON.stringify(here)}: expected one of ${options.join(', ')}`,
          });
          break;
        }
        const allWrongType = issue.errors.every((branch) => branch.length === 1 && branch[0]!.code === 'invalid_type' && branch[0]!.path.length === 0);
        if (allWrongType) {
          const expected = [...new Set(issue.errors.map((branch) => typeName((branch[0] as { expected?: unknown }).expected)))];
          out.push({ path: formatPath(path), message: here === undefined ? `is required: expected ${expected.join(' | ')}` : `expected ${expected.join(' | ')}, got ${kindOf(here)}` });
          break;
        }
        // An object that has none of the alternatives' required fields: name what it needs.
        const missing = issue.errors.map((branch) => missingKeys(branch, here));
        if (typeof here === 'object' && here !== null && !Array.isArray(here) && missing.every((keys) => keys.length > 0)) {
          const needs = [...new Set(missing.map((keys) => keys[0]!))];
          out.push({ path: formatPath(path), message: `needs ${needs.map((key) => `"${key}"`).join(' or ')}` });
          break;
        }
        let best = issue.errors[0]!;
        let bestScore = Infinity;
        for (const branch of issue.errors) {
          const score = distance(branch, here);
          if (score < bestScore || (score === bestScore && branch.length < best.length)) {
            best = branch;
            bestScore = score;
          }
        }
        flatten(best, input, path, out);
        break;
      }
      case 'invalid_key': {
        // The issues are about the key itself, so read "got …" from the key.
        const inner: ValidationIssue[] = [];
        flatten(issue.issues, path[path.length - 1], [], inner);
        out.push({ path: formatPath(path), message: `invalid name: ${inner.map((i) => i.message).join('; ')}` });
        break;
      }
      case 'unrecognized_keys':
        for (const key of issue.keys) out.push({ path: formatPath([...path, key]), message: 'is not a known field' });
        break;
      case 'invalid_type':
        out.push({ path: formatPath(path), message: here === undefined ? `is required (${typeName(issue.expected)})` : `expected ${typeName(issue.expected)}, got ${kindOf(here)}` });
        break;
      case 'invalid_format': {
        const pattern = 'pattern' in issue && typeof issue.pattern === 'string' ? issue.pattern : undefined;
        const meaning = pattern === undefined ? undefined : PATTERN_MEANINGS.get(pattern);
        out.push({ path: formatPath(path), message: meaning === undefined ? issue.message : `${meaning}, got ${JSON.stringify(here)}` });
        break;
      }
      default:
        out.push({ path: formatPath(path), message: issue.message });
    }
  }
}

/** Readable issues from a failed `safeParse` of `input`. */
export function formatZodIssues(issues: readonly Issue[], input: unknown): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  flatten(issues, input, [], out);
  return out;
}
