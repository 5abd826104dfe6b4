import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The fenced blocks of docs/openfeature.md marked `example=NAME`, by name. */
function examples(): Map<string, { language: string; code: string }> {
  const found = new Map<string, { language: string; code: string }>();
  for (const match of readFileSync(join(ROOT, 'docs/openfeature.md'), 'utf8').matchAll(/^```(\w+) example=([\w-]+)\n([\s\S]*?)^```$/gm)) {
    found.set(match[2]!, { language: match[1]!, code: match[3]! });
  }
  return found;
}

describe('docs/openfeature.md: every example runs as written', () => {
  let api: TestApi;
  let dir: string;
  let env: Record<string, string>;
  const blocks = examples();

  /**
   * Runs one example in a child process, as a reader would after copying it: its `@flagship/sdk`
   * imports resolve to this checkout's workspace package. Asynchronously: the service answering it
   * runs in this process.
   */
  const run = (name: string, extraEnv: Record<string, string> = {}, preamble = ''): Promise<{ status: number | null; stdout: string; stderr: string }> => {
    const block = blocks.get(name);
    if (!block) throw new Error(`docs/openfeature.md has no example=${name}`);
    let command: [string, string[]];
    if (block.language === 'sh') command = ['bash', ['-euo', 'pipefail', '-c', block.code]];
    else {
      const file = join(dir, `${name}.ts`);
      writeFileSync(file, preamble + block.code);
      command = [process.execPath, ['--no-warnings', file]];
    }
    const child = spawn(command[0], command[1], { cwd: ROOT, env: { ...process.env, ...env, ...extraEnv }, timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
  };
  const expectSuccess = async (running: ReturnType<typeof run>) => {
    const result = await running;
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    return result.stdout;
  };

  beforeAll(async () => {
    expect([...blocks.keys()].sort()).toEqual(['curl', 'migration', 'server', 'sign', 'web']);
    api = await startTestApi();
    // Inside the checkout, so the examples' imports resolve from its node_modules; .tools is git-ignored.
    mkdirSync(join(ROOT, '.tools'), { recursive: true });
    dir = mkdtempSync(join(ROOT, '.tools', 'docs-examples-'));
    const flags = [
      { key: 'checkout-flow', type: 'string', defaultValue: 'classic', tags: ['flagship:browser'], variants: { classic: 'classic', express: 'express' }, rules: [{ id: 'de', conditions: [{ attribute: 'country', op: 'equals', value: 'DE' }], serve: { variant: 'express' } }, { id: 'pro', conditions: [{ attribute: 'plan', op: 'equals', value: 'pro' }], serve: { variant: 'express' } }] },
      { key: 'new-search', type: 'boolean', defaultValue: false, rules: [{ id: 'staff', conditions: [{ attribute: 'staff', op: 'equals', value: true }], serve: { value: true } }] },
    ];
    for (const flag of flags) expect((await api.request('POST', '/v1/flags', { body: flag })).status).toBe(201);
    const token = async (body: Record<string, unknown>) => (await api.request('POST', '/v1/tokens', { body })).body;
    const signed = await token({ name: 'shop-web-signed', owner: { id: 'shop', kind: 'service' }, scopes: ['feature_flag:browser'], projectIds: ['shop'], signedContext: true });
    env = {
      FLAGS_URL: api.baseUrl,
      FLAGS_TOKEN: (await token({ name: 'docs-service', owner: { id: 'docs', kind: 'service' }, scopes: ['feature_flag:evaluate'] })).token,
      FLAGS_PUBLIC_KEY: (await api.request('GET', '/v1/snapshot/public-key', { token: null })).body.publicKeyPem,
      FLAGS_BROWSER_TOKEN: (await token({ name: 'shop-web', owner: { id: 'shop', kind: 'service' }, scopes: ['feature_flag:browser'], projectIds: ['shop'] })).token,
      FLAGS_SIGNED_BROWSER_TOKEN: signed.token,
      FLAGS_CONTEXT_SIGNING_SECRET: signed.contextSigningSecret,
    };
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await api.close();
  });

  it('server: the provider evaluates with flag metadata and sends track() to the outbox', async () => {
    expect(await expectSuccess(run('server'))).toContain('checkout-flow: express (TARGETING_MATCH, set flagship v1)');
    const tracked = await api.db.pool.any(sql.type(z.object({ payload: z.any() }))`SELECT payload FROM outbox WHERE type = 'tracking.events'`);
    expect(tracked.flatMap((row) => row.payload.events)).toContainEqual({ eventName: 'checkout.completed', userId: 'user-42', value: 99.5, attributes: { currency: 'EUR' }, at: expect.any(String) });
  });

  it('web: the OFREP web provider with a front-end token', async () => {
    // The one thing a browser has that Node lacks: EventSource.
    const preamble = "import { EventSource as NodeEventSource } from 'eventsource';\nObject.assign(globalThis, { EventSource: NodeEventSource });\n";
    expect(await expectSuccess(run('web', {}, preamble))).toContain('checkout-flow: express');
  });

  it('curl: the bulk answer with flag-set metadata and eventStreams', async () => {
    const answer = JSON.parse(await expectSuccess(run('curl')));
    expect(answer.flags.find((flag: { key: string }) => flag.key === 'checkout-flow')).toMatchObject({ value: 'express', metadata: { flagSetId: 'flagship', version: '1' } });
    expect(answer.metadata).toEqual({ flagSetId: 'flagship' });
    expect(answer.eventStreams).toEqual([{ type: 'sse', endpoint: { requestUri: expect.stringMatching(/^\/ofrep\/v1\/event-stream\?ticket=/) } }]);
  });

  it('sign: a context signed by the backend is evaluated; the same code with another secret is refused', async () => {
    expect((await expectSuccess(run('sign'))).trim()).toBe('200 [{"key":"checkout-flow","value":"classic"}]');
    expect((await expectSuccess(run('sign', { FLAGS_CONTEXT_SIGNING_SECRET: 'ffc_guessed' }))).trim()).toMatch(/^403 /);
  });

  it('migration: serves the variable and counts where the flag disagrees', async () => {
    expect((await expectSuccess(run('migration', { NEW_SEARCH: 'true' }))).trim().split('\n')).toEqual(['ann: true', 'bob: true', '{"evaluations":2,"disagreements":1}']);
  });
});
