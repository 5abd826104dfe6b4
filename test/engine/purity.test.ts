import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';

const ENGINE = new URL('../../src/engine/', import.meta.url);

/**
 * The engine is pure: no I/O, no clock, no randomness, no logging. ESLint bans the imports; this
 * test also catches the globals that need no import.
 */
describe('src/engine purity', () => {
  const files = readdirSync(ENGINE).filter((f) => f.endsWith('.ts'));
  it.each(files)('%s has no I/O, clock, randomness or logging', (file) => {
    const source = readFileSync(new URL(file, ENGINE), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
    for (const specifier of imports) expect(['zod', 're2js'].includes(specifier) || specifier.startsWith('./')).toBe(true);
    for (const forbidden of [/Date\.now\(/, /new Date\(\)/, /Math\.random\(/, /console\./, /performance\.now\(/, /process\./, /\bfetch\(/, /setTimeout\(/]) {
      expect(source).not.toMatch(forbidden);
    }
  });
});
