import { RE2JS } from 're2js';

/**
 * Regex conditions run on RE2 (through `re2js`, a pure-JavaScript port of RE2): matching is linear in
 * the input, so no pattern can hang the process (ReDoS). `re2js` was measured against `re2-wasm` on
 * this project's workload: about 190 ns versus 1,100 ns per test of a short string, because
 * `re2-wasm` copies every input into WebAssembly memory; the native `re2` addon cannot be built here.
 *
 * Most patterns in flag rules are literals with anchors (`@example\.com$`, `^internal-`). Those are
 * recognised at compile time and run as `endsWith`/`startsWith`/`includes`/`===`, which give exactly
 * RE2's answer for such patterns at a few nanoseconds instead of ~190; a test pins the equivalence.
 */

/**
 * A compiled pattern: is the input a string in which the pattern matches somewhere (unanchored, like
 * RE2's PartialMatch)? The type check is part of it so that a condition costs one closure call.
 */
export type RegexTest = (input: unknown) => boolean;

/** Patterns come from flag definitions (at most 1,024 characters each); the cache is bounded by count and by their total length. */
const CACHE_LIMIT = 10_000;
const CACHE_PATTERN_CHARACTERS = 2_000_000;
const cache = new Map<string, RegexTest>();
let cachedCharacters = 0;

// Outside a character class, these are RE2 metacharacters; everything else stands for itself.
const META = new Set(['\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$']);
// RE2 reads a backslash before ASCII punctuation as that character (`\.` is a dot).
const ESCAPABLE_PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

interface LiteralPattern {
  readonly literal: string;
  readonly anchoredStart: boolean;
  readonly anchoredEnd: boolean;
}

/** The literal a pattern stands for, when it is nothing but (optionally anchored) literal text. */
export function literalPattern(pattern: string): LiteralPattern | null {
  const anchoredStart = pattern.startsWith('^');
  const start = anchoredStart ? 1 : 0;
  const end = pattern.length;
  let literal = '';
  let anchoredEnd = false;
  for (let i = start; i < end; i++) {
    const c = pattern[i]!;
    const code = pattern.charCodeAt(i);
    // Surrogates: leave astral characters to RE2, which works on code points.
    if (code >= 0xd800 && code <= 0xdfff) return null;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined || !ESCAPABLE_PUNCTUATION.has(next)) return null;
      literal += next;
      i++;
      continue;
    }
    if (c === '$' && i === end - 1) {
      // Without the multi-line flag, RE2's `$` matches only at the end of the text.
      anchoredEnd = true;
      break;
    }
    if (META.has(c)) return null;
    literal += c;
  }
  return { literal, anchoredStart, anchoredEnd };
}

function literalTest({ literal, anchoredStart, anchoredEnd }: LiteralPattern): RegexTest {
  if (anchoredStart && anchoredEnd) return (input) => input === literal;
  if (anchoredStart) return (input) => typeof input === 'string' && input.startsWith(literal);
  if (anchoredEnd) return (input) => typeof input === 'string' && input.endsWith(literal);
  return (input) => typeof input === 'string' && input.includes(literal);
}

/**
 * Why a pattern is refused, or null when it compiles. Refused: anything RE2 does not accept
 * (backreferences, lookarounds, ...) and patterns longer than the limit.
 */
export function regexError(pattern: string, maxLength = 1_024): string | null {
  if (pattern.length > maxLength) return `pattern is longer than ${maxLength} characters`;
  try {
    RE2JS.compile(pattern);
    return null;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return `not a valid RE2 pattern: ${message}`;
  }
}

/**
 * Compiles an RE2 pattern into a linear-time predicate, cached per pattern (the cache is bounded and
 * drops its oldest entries when full). Throws on an invalid pattern: callers validate patterns on write
 * with {@link regexError}, so an invalid one here is a programmer error.
 */
export function compileRegex(pattern: string): RegexTest {
  const cached = cache.get(pattern);
  if (cached !== undefined) return cached;
  const literal = literalPattern(pattern);
  let predicate: RegexTest;
  if (literal !== null) {
    predicate = literalTest(literal);
  } else {
    const re = RE2JS.compile(pattern);
    predicate = (input) => typeof input === 'string' && re.test(input);
  }
  while (cache.size > 0 && (cache.size >= CACHE_LIMIT || cachedCharacters + pattern.length > CACHE_PATTERN_CHARACTERS)) {
    const oldest = cache.keys().next();
    if (oldest.done === true) break;
    cache.delete(oldest.value);
    cachedCharacters -= oldest.value.length;
  }
  cache.set(pattern, predicate);
  cachedCharacters += pattern.length;
  return predicate;
}
