import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const sources = ['src/config.ts', 'src/launcher/temporal-cli.ts', 'src/tracing.ts'].map((file) => readFileSync(new URL(file, root), 'utf8')).join('\n');

describe('the README configuration table', () => {
  const tableRows = readme.split('\n').filter((line) => line.startsWith('| `'));
  const documented = new Set(tableRows.flatMap((line) => [...line.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1])));
  const read = new Set([...sources.matchAll(/(?:FromEnv\(env, |envVar: )'([A-Z0-9_]+)'|\benv\.([A-Z][A-Z0-9_]+)/g)].map((match) => match[1] ?? match[2]).filter((name) => name !== 'PATH'));

  it('documents every variable the service reads', () => {
    expect(read.size).toBeGreaterThan(10);
    for (const variable of read) expect({ variable, documented: documented.has(variable) }).toEqual({ variable, documented: true });
  });

  it('documents no variable the service does not read', () => {
    const testOnly = new Set(['TEST_DATABASE_URL', 'TEST_TEMPORAL_ADDRESS', 'TEST_TEMPORAL_NAMESPACE']);
    for (const variable of documented) {
      if (testOnly.has(variable!)) continue;
      expect({ variable, read: read.has(variable!) }).toEqual({ variable, read: true });
    }
  });
});
