import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';

const root = new URL('../../', import.meta.url);
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
  services: Record<string, { environment?: Record<string, string>; command?: string[]; build?: string; healthcheck?: { test?: string[] } }>;
};
const configSource = readFileSync(new URL('src/config.ts', root), 'utf8');
const variablesTheServiceReads = new Set([...configSource.matchAll(/FromEnv\(env, '([A-Z_]+)'/g)].map((match) => match[1]));

describe('docker-compose.yml', () => {
  it('has the production-like stack of the architecture', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'api', 'worker']));
  });

  it.each(['api', 'worker'])('sets only variables the service reads, for %s', (name) => {
    const environment = compose.services[name]?.environment ?? {};
    expect(Object.keys(environment).length).toBeGreaterThan(0);
    for (const variable of Object.keys(environment)) expect(variablesTheServiceReads).toContain(variable);
  });

  it('checks the API through /readyz, which stays green while PostgreSQL or Temporal is down', () => {
    const test = compose.services.api?.healthcheck?.test ?? [];
    expect(test.join(' ')).toContain('http://127.0.0.1:8080/readyz');
    expect(test.join(' ')).not.toContain('/health');
  });

  it.each([
    ['api', 'src/api/main.ts'],
    ['worker', 'src/worker/main.ts'],
  ])('runs %s from an entry point that exists', (name, entry) => {
    expect(compose.services[name]?.command).toEqual(['node', entry]);
    expect(() => readFileSync(new URL(entry, root))).not.toThrow();
  });
});
