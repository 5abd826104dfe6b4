import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bootstrapText, createSigner, flag, signSnapshot } from '../support/sdk-fakes.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules/.bin/tsc');

/** The `exports` map proposed for package.json (docs/sdk.md); the test package below uses exactly this. */
const SDK_EXPORTS = {
  './sdk': { types: './dist/sdk/index.d.ts', default: './dist/sdk/index.js' },
  './sdk/openfeature': { types: './dist/sdk/openfeature-provider.d.ts', default: './dist/sdk/openfeature-provider.js' },
  './engine': { types: './dist/engine/index.d.ts', default: './dist/engine/index.js' },
};

/** What the built SDK and engine may import: nothing server-side (OpenTelemetry's API is a no-op without an SDK). */
const ALLOWED_IMPORTS = /^(\.{1,2}\/|node:|zod$|re2js$|lru-cache$|@openfeature\/server-sdk$|@opentelemetry\/api$)/;

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function importsOf(directory: string): string[] {
  const specifiers: string[] = [];
  for (const entry of readdirSync(directory, { recursive: true, encoding: 'utf8' })) {
    if (!entry.endsWith('.js')) continue;
    const text = readFileSync(join(directory, entry), 'utf8');
    for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) specifiers.push((match[1] ?? match[2])!);
  }
  return specifiers;
}

describe('the SDK as a package', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flags-sdk-package-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'flagship', version: '0.0.0', type: 'module', exports: SDK_EXPORTS }));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    run(TSC, ['-p', join(ROOT, 'tsconfig.sdk.json'), '--outDir', join(dir, 'dist')], ROOT);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds JavaScript that imports nothing server-side', () => {
    const imports = importsOf(join(dir, 'dist'));
    expect(imports.length).toBeGreaterThan(20);
    expect(imports.filter((specifier) => !ALLOWED_IMPORTS.test(specifier))).toEqual([]);
    expect(imports.some((specifier) => specifier.endsWith('.ts'))).toBe(false);
  });

  it('runs under plain Node (no type stripping) through the exports map', () => {
    const signer = createSigner();
    const snapshot = signSnapshot(signer, { version: 3, flags: [flag({ key: 'checkout', type: 'boolean', defaultValue: false, rules: [{ id: 'de', conditions: [{ attribute: 'country', op: 'equals', value: 'DE' }], serve: { value: true } }] })] });
    writeFileSync(join(dir, 'bootstrap.json'), bootstrapText(snapshot));
    writeFileSync(join(dir, 'public-key.pem'), signer.publicKeyPem);
    writeFileSync(join(dir, 'consumer.mjs'), `
      import { readFileSync } from 'node:fs';
      import { createClient } from 'flagship/sdk';
      import { FlagsProvider } from 'flagship/sdk/openfeature';
      import { compileFlagSet } from 'flagship/engine';
      import { OpenFeature } from '@openfeature/server-sdk';
      const publicKey = readFileSync(new URL('./public-key.pem', import.meta.url), 'utf8');
      const client = createClient({ url: 'http://127.0.0.1:9', token: 't', publicKey, offline: true, bootstrap: { path: new URL('./bootstrap.json', import.meta.url).pathname } });
      await OpenFeature.setProviderAndWait(new FlagsProvider(client));
      const details = await OpenFeature.getClient().getBooleanDetails('checkout', false, { targetingKey: 'u', country: 'DE' });
      console.log(JSON.stringify({
        de: client.isEnabled('checkout', { country: 'DE' }),
        fr: client.isEnabled('checkout', { country: 'FR' }),
        version: client.state().snapshotVersion,
        openfeature: details.reason,
        engine: typeof compileFlagSet,
      }));
      await OpenFeature.close();
    `);
    const output = run(process.execPath, ['--no-experimental-strip-types', 'consumer.mjs'], dir);
    expect(JSON.parse(output.trim().split('\n').pop()!)).toEqual({ de: true, fr: false, version: 3, openfeature: 'TARGETING_MATCH', engine: 'function' });
  });

  it('ships declarations a TypeScript consumer type-checks against', () => {
    writeFileSync(join(dir, 'consumer.ts'), `
      import { createClient, type ClientState, type Evaluation } from 'flagship/sdk';
      import { FlagsProvider } from 'flagship/sdk/openfeature';
      const client = createClient({ url: 'http://flags', token: 't', publicKey: '', refreshIntervalMs: 30_000 });
      const enabled: boolean = client.isEnabled('checkout', { userId: 'u' });
      const layout: { columns: number } = client.getJson('layout', {}, { columns: 1 });
      const result: Evaluation = client.evaluate('checkout', {}, false);
      const state: ClientState = client.state();
      const provider = new FlagsProvider(client);
      // @ts-expect-error a string fallback for getNumber does not compile
      client.getNumber('limit', {}, 'ten');
      export { enabled, layout, result, state, provider };
    `);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2024', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: ['node'], skipLibCheck: false },
      files: ['consumer.ts'],
    }));
    run(TSC, ['-p', 'tsconfig.json'], dir);
  });
});
