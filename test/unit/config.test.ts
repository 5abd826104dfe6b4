import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config.ts';

describe('loadConfig', () => {
  it('uses the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.pgPort).toBe(54329);
    expect(config.temporalNamespace).toBe('default');
    expect(config.databaseUrl).toBeUndefined();
  });

  it('refuses a port that is not a number', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT must be a port number/);
  });
});
