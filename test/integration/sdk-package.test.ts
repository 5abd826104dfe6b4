// The SDK and the engine as a service installs them: packed by npm, installed from the tarballs into
// an empty folder outside the repository, run by plain Node (no type stripping) from that folder, so
// nothing resolves to this checkout. Every conformance case goes through the installed SDK, which
// loads a signed snapshot from a real service.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api.ts';
import { evaluationFiles, fallbackFor, loadConformanceIntoApi } from '../support/conformance.ts';
import { installedPackages, installTarballs, npm, packWorkspace, REPOSITORY } from '../support/packed-workspace.ts';

/** Exactly what installing the SDK brings: its own two dependencies and the engine's one, no optional peer. */
const SDK_WITH_ENGINE = ['@flagship/engine', '@flagship/sdk', 'lru-cache', 're2js'];
const MAX_PACKAGES = 15;

/**
 * Runs a script of the consumer folder with the Node running this test, without type stripping.
 * Asynchronously: the service it asks runs in this process.
 */
async function runInConsumer(folder: string, script: string, source: string): Promise<unknown> {
  writeFileSync(join(folder, script), source);
  const { stdout } = await promisify(execFile)(process.execPath, ['--no-experimental-strip-types', script], { cwd: folder, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('the packed SDK and engine, installed into an empty folder', () => {
  const folder = mkdtempSync(join(tmpdir(), 'flagship-sdk-pack-'));
  const consumer = join(folder, 'service');
  const files = evaluationFiles();
  const cases = files.flatMap((file) => file.cases.map((testCase) => ({ ...testCase, label: `${file.file}: ${testCase.name}`, fallback: fallbackFor(testCase.expected) })));
  let packed: Record<'engine' | 'sdk', string[]>;
  let api: TestApi;
  let service: { url: string; token: string; publicKey: string };

  beforeAll(async () => {
    const engine = packWorkspace('src/engine', folder);
    const sdk = packWorkspace('packages/sdk', folder);
    packed = { engine: engine.files, sdk: sdk.files };
    installTarballs(consumer, [engine.tarball, sdk.tarball]);
    api = await startTestApi();
    await loadConformanceIntoApi(api, files);
    const token = (await api.request('POST', '/v1/tokens', { body: { name: 'packed-sdk', owner: { id: 'packed-sdk', kind: 'service' }, scopes: ['feature_flag:evaluate'] } })).body.token;
    const publicKey = (await api.request('GET', '/v1/snapshot/public-key', { token: null })).body.publicKeyPem;
    service = { url: api.baseUrl, token, publicKey };
  }, 300_000);
  afterAll(async () => {
    await api?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('packs JavaScript and declarations, no sources', () => {
    for (const files of [packed.engine, packed.sdk]) {
      expect(files).toContain('dist/index.js');
      expect(files).toContain('dist/index.d.ts');
      expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
    }
    expect(packed.sdk).toEqual(expect.arrayContaining(['dist/openfeature-provider.js', 'dist/telemetry-hook.js', 'dist/env-toggle-migration.js', 'dist/webhook-signature.js']));
    expect(packed.engine).toContain('dist/validate.js');
  });

  it('installs the allow-listed packages and nothing else', () => {
    const installed = installedPackages(consumer);
    expect(installed).toEqual(SDK_WITH_ENGINE);
    expect(installed.length).toBeLessThan(MAX_PACKAGES);
  });

  it('evaluates every conformance case through the installed SDK as the vectors expect', async () => {
    writeFileSync(join(consumer, 'cases.json'), JSON.stringify({ service, cases }));
    const run = await runInConsumer(consumer, 'conformance.mjs', `
      import { readFileSync } from 'node:fs';
      import { createClient } from '@flagship/sdk';
      const { service, cases } = JSON.parse(readFileSync('cases.json', 'utf8'));
      const client = createClient({ ...service, refreshIntervalMs: 0, logger: null });
      await client.waitUntilReady({ timeoutMs: 20_000 });
      const results = cases.map((testCase) => ({ label: testCase.label, result: client.evaluate(testCase.flagKey, testCase.context, testCase.fallback) }));
      await client.close();
      console.log(JSON.stringify({ resolved: import.meta.resolve('@flagship/sdk'), engine: import.meta.resolve('@flagship/engine'), results }));
    `) as { resolved: string; engine: string; results: { label: string; result: unknown }[] };
    expect(run.resolved).toBe(`file://${consumer}/node_modules/@flagship/sdk/dist/index.js`);
    expect(run.engine).toBe(`file://${consumer}/node_modules/@flagship/engine/dist/index.js`);
    expect(run.results).toHaveLength(cases.length);
    expect(cases.length).toBeGreaterThan(200);
    cases.forEach((testCase, index) => {
      const { label, result } = run.results[index]!;
      const expected = testCase.expected ?? { flagKey: testCase.flagKey, value: testCase.fallback, variant: null, reason: 'error', flagVersion: 0, errorCode: 'FLAG_NOT_FOUND', errorMessage: expect.any(String) };
      expect({ label, result }).toEqual({ label: testCase.label, result: expected });
    });
  });

  it('verifies webhook signatures with @flagship/sdk/webhooks, and leaves the OpenFeature provider to its optional peer', async () => {
    const run = await runInConsumer(consumer, 'webhooks.mjs', `
      import { signWebhookPayload, verifyWebhookSignature, SIGNATURE_HEADER } from '@flagship/sdk/webhooks';
      const body = JSON.stringify({ id: 7, type: 'flag.updated' });
      const now = Math.floor(Date.now() / 1000);
      const header = signWebhookPayload('whsec_test', now, body);
      const provider = await import('@flagship/sdk/openfeature').then(() => 'loaded', (error) => error.code);
      console.log(JSON.stringify({
        header: SIGNATURE_HEADER,
        valid: verifyWebhookSignature('whsec_test', header, body),
        tampered: verifyWebhookSignature('whsec_test', header, body.replace('7', '8')),
        provider,
      }));
    `);
    expect(run).toEqual({ header: 'x-flags-signature', valid: { ok: true, timestamp: expect.any(Number) }, tampered: { ok: false, reason: 'mismatch' }, provider: 'ERR_MODULE_NOT_FOUND' });
  });

  it('runs the OpenFeature provider once @openfeature/server-sdk is installed, and type-checks a consumer against the declarations', async () => {
    const { version } = JSON.parse(readFileSync(join(REPOSITORY, 'node_modules/@openfeature/server-sdk/package.json'), 'utf8')) as { version: string };
    npm(['install', '--no-audit', '--no-fund', `@openfeature/server-sdk@${version}`], consumer);
    const found = cases.find((testCase) => typeof testCase.expected?.value === 'boolean' && testCase.expected.reason === 'rule')!;
    writeFileSync(join(consumer, 'case.json'), JSON.stringify({ service, found }));
    const run = await runInConsumer(consumer, 'openfeature.mjs', `
      import { readFileSync } from 'node:fs';
      import { OpenFeature } from '@openfeature/server-sdk';
      import { FlagsProvider } from '@flagship/sdk/openfeature';
      const { service, found } = JSON.parse(readFileSync('case.json', 'utf8'));
      await OpenFeature.setProviderAndWait(new FlagsProvider({ ...service, refreshIntervalMs: 0, logger: null }));
      const details = await OpenFeature.getClient().getBooleanDetails(found.flagKey, !found.expected.value, found.context);
      await OpenFeature.close();
      console.log(JSON.stringify({ value: details.value, reason: details.reason }));
    `);
    expect(run).toEqual({ value: found.expected!.value, reason: 'TARGETING_MATCH' });

    writeFileSync(join(consumer, 'consumer.ts'), `
      import { createClient, type ClientState, type Evaluation } from '@flagship/sdk';
      import { FlagsProvider } from '@flagship/sdk/openfeature';
      import { verifyWebhookSignature, type SignatureCheck } from '@flagship/sdk/webhooks';
      import { compileFlagSet, type EvaluationResult } from '@flagship/engine';
      const client = createClient({ url: 'http://flags', token: 't', publicKey: '', refreshIntervalMs: 30_000 });
      const enabled: boolean = client.isEnabled('checkout', { userId: 'u' });
      const layout: { columns: number } = client.getJson('layout', {}, { columns: 1 });
      const result: Evaluation = client.evaluate('checkout', {}, false);
      const state: ClientState = client.state();
      const provider = new FlagsProvider(client);
      const check: SignatureCheck = verifyWebhookSignature('secret', undefined, '');
      const evaluated: EvaluationResult | undefined = undefined;
      // @ts-expect-error a string fallback for getNumber does not compile
      client.getNumber('limit', {}, 'ten');
      export { enabled, layout, result, state, provider, check, evaluated, compileFlagSet };
    `);
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
      // Node's own types from this checkout: the consumer folder has no @types/node.
      compilerOptions: { target: 'es2024', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, typeRoots: [join(REPOSITORY, 'node_modules/@types')], types: ['node'], skipLibCheck: false },
      files: ['consumer.ts'],
    }));
    execFileSync(join(REPOSITORY, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: consumer, encoding: 'utf8' });
  }, 240_000);
});
