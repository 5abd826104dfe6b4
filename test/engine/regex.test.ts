import { describe, expect, it } from '@jest/globals';
import { RE2JS } from 're2js';
import { compileFlagSet, evaluate, type Flag } from '@flagship/engine';
import { validateFlag } from '@flagship/engine/validate';
import { compileRegex, literalPattern, regexError } from '../../src/engine/compile-regex.ts';
import { seededRandom } from './support/seeded-random.ts';

function regexFlag(pattern: string): Flag {
  const input = { key: 'redos', type: 'boolean', defaultValue: false, rules: [{ id: 'r', conditions: [{ attribute: 'name', op: 'regex', value: pattern }], serve: { value: true } }] };
  const result = validateFlag(input);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return { ...result.value, state: 'active', version: 1 };
}

describe('regex conditions cannot hang the process', () => {
  it.each([
    ['^(a+)+$', 'a'.repeat(100_000) + 'b'],
    ['(x+x+)+y', 'x'.repeat(50_000)],
    ['^(\\w+\\s?)*$', 'An input that is long enough to be a problem for a backtracking engine '.repeat(500) + '!'],
    ['(a|aa)+$', 'a'.repeat(50_000) + 'b'],
  ])('%s against a long non-matching input finishes in linear time', (pattern, input) => {
    const set = compileFlagSet({ flags: [regexFlag(pattern)], segments: [] });
    const started = performance.now();
    const result = evaluate(set, 'redos', { name: input });
    const elapsed = performance.now() - started;
    expect(result!.reason).toBe('default');
    // A backtracking engine needs longer than the age of the universe here; RE2 needs milliseconds.
    expect(elapsed).toBeLessThan(1000);
  });

  it('refuses what RE2 cannot run in linear time (backreferences, lookaround) and what does not parse', () => {
    expect(regexError('(a)\\1')).toMatch(/not a valid RE2 pattern/);
    expect(regexError('a(?=b)')).toMatch(/not a valid RE2 pattern/);
    expect(regexError('(?<!a)b')).toMatch(/not a valid RE2 pattern/);
    expect(regexError('[')).toMatch(/not a valid RE2 pattern/);
    expect(regexError('x'.repeat(1025))).toMatch(/longer than 1024/);
    expect(regexError('^(a+)+$')).toBeNull();
  });
});

describe('literal patterns run as string comparisons, with RE2\'s answers', () => {
  it('recognises anchored and escaped literals, and only those', () => {
    expect(literalPattern('@example\\.com$')).toEqual({ literal: '@example.com', anchoredStart: false, anchoredEnd: true });
    expect(literalPattern('^internal-')).toEqual({ literal: 'internal-', anchoredStart: true, anchoredEnd: false });
    expect(literalPattern('^a\\$b\\^$')).toEqual({ literal: 'a$b^', anchoredStart: true, anchoredEnd: true });
    expect(literalPattern('beta')).toEqual({ literal: 'beta', anchoredStart: false, anchoredEnd: false });
    for (const pattern of ['a.b', 'a+', '(?i)abc', '\\d', 'a|b', '[ab]', 'a{2}', 'a$b', '^^a', '\\Qa\\E', 'x\\b', '😀']) {
      expect(literalPattern(pattern)).toBeNull();
    }
  });

  it('agrees with re2js on random literal patterns and inputs, including newlines and anchors', () => {
    const random = seededRandom(7);
    const alphabet = ['a', 'b', '-', '@', '\n', 'é', '\\.', '\\$', '\\^', '\\\\'];
    const inputAlphabet = ['a', 'b', '.', '-', '@', '\n', 'é', '$', '^', '\\'];
    for (let i = 0; i < 3000; i++) {
      let pattern = '';
      const n = Math.floor(random() * 4);
      for (let j = 0; j < n; j++) pattern += alphabet[Math.floor(random() * alphabet.length)];
      if (random() < 0.4) pattern = `^${pattern}`;
      if (random() < 0.4) pattern = `${pattern}$`;
      let input = '';
      const m = Math.floor(random() * 6);
      for (let j = 0; j < m; j++) input += inputAlphabet[Math.floor(random() * inputAlphabet.length)];
      expect(literalPattern(pattern)).not.toBeNull();
      expect(`${pattern} ~ ${JSON.stringify(input)}: ${compileRegex(pattern)(input)}`).toBe(
        `${pattern} ~ ${JSON.stringify(input)}: ${RE2JS.compile(pattern).test(input)}`,
      );
    }
  });

  it('caches compiled patterns', () => {
    expect(compileRegex('^user-[0-9]+$')).toBe(compileRegex('^user-[0-9]+$'));
    expect(compileRegex('@example\\.com$')).toBe(compileRegex('@example\\.com$'));
  });
});
