// Flags as code with the real CLI against the real service: export → edit → plan (the exact
// field-by-field diff) → apply → plan again shows nothing; a server edit between plan and apply is
// a conflict; a high-impact flag's apply files a change request; --prune archives; flagd files
// translate (and refuse by name what does not) and evaluate as flagd-core evaluates them.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FlagdCore } from '@openfeature/flagd-core';
import { parse, stringify } from 'yaml';
import { runCli, type CliRun } from '../support/cli.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type RolloutHarness } from '../support/rollout-harness.ts';

describe('flagship export, plan and apply', () => {
  let harness: RolloutHarness;
  let folder: string;
  let cli: (...args: string[]) => Promise<CliRun>;

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness({ worker: false });
    folder = mkdtempSync(join(tmpdir(), 'flagship-code-'));
    cli = (...args) => runCli(args, { env: { FLAGSHIP_URL: harness.api.baseUrl, FLAGSHIP_TOKEN: harness.api.adminToken } });
    const { api } = harness;
    expect((await api.request('POST', '/v1/segments', { body: { key: 'beta-users', name: 'Beta users', conditions: [{ attribute: 'email', op: 'ends_with', value: '@example.com' }] } })).status).toBe(201);
    for (const flag of [
      { key: 'new-checkout', type: 'boolean', description: 'New checkout flow', tags: ['checkout'], defaultValue: false, rules: [{ id: 'beta', conditions: [{ segment: 'beta-users' }], serve: { value: true } }], rollout: { percentage: 5 } },
      { key: 'banner-text', type: 'string', defaultValue: 'hello', variants: { formal: 'Good day', casual: 'hey' } },
      { key: 'payments-core', type: 'boolean', defaultValue: false, highImpact: true },
    ]) expect((await api.request('POST', '/v1/flags', { body: flag })).status).toBe(201);
  });
  afterAll(async () => {
    await harness.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const flagFile = (key: string) => join(folder, 'flags', `${key}.yaml`);
  const editFlagFile = (key: string, edit: (flag: Record<string, unknown>) => void) => {
    const document = parse(readFileSync(flagFile(key), 'utf8')) as { flags: Record<string, unknown>[] };
    edit(document.flags[0]!);
    writeFileSync(flagFile(key), stringify(document));
  };

  it('exports one file per flag and segment, in a stable order with defaults left out', async () => {
    const exported = await cli('export', '--dir', folder);
    expect(exported).toMatchObject({ code: 0 });
    expect(exported.stderr).toContain('Exported 3 flags and 1 segments into 4 files');
    const checkout = readFileSync(flagFile('new-checkout'), 'utf8');
    expect(checkout).toBe([
      'apiVersion: flagship/v1',
      'flags:',
      '  - key: new-checkout',
      '    type: boolean',
      '    description: New checkout flow',
      '    tags:',
      '      - checkout',
      '    defaultValue: false',
      '    rules:',
      '      - id: beta',
      '        conditions:',
      '          - segment: beta-users',
      '        serve:',
      '          value: true',
      '    rollout:',
      '      percentage: 5',
      '',
    ].join('\n'));
    // The same server state exports to the same bytes, as one document too.
    const once = await cli('export');
    const twice = await cli('export');
    expect(once.code).toBe(0);
    expect(once.stdout).toBe(twice.stdout);
    expect((parse(once.stdout) as { flags: { key: string }[] }).flags.map((flag) => flag.key)).toEqual(['banner-text', 'new-checkout', 'payments-core']);
  });

  it('plans the exact diff of an edit, applies it, and then plans nothing; applying again changes nothing', async () => {
    editFlagFile('new-checkout', (flag) => {
      flag.rollout = { percentage: 25 };
      flag.tags = ['checkout', 'q3'];
    });
    writeFileSync(flagFile('dark-mode'), stringify({ apiVersion: 'flagship/v1', flags: [{ key: 'dark-mode', type: 'boolean', defaultValue: false }] }));

    const planned = await cli('plan', '-f', folder, '-o', 'json');
    expect(planned.code).toBe(0);
    expect(JSON.parse(planned.stdout)).toEqual({
      url: harness.api.baseUrl,
      changes: [
        { kind: 'flag', key: 'dark-mode', action: 'create', baseVersion: null, needsApproval: false, diff: [{ path: 'key', after: 'dark-mode' }, { path: 'type', after: 'boolean' }, { path: 'defaultValue', after: false }] },
        { kind: 'flag', key: 'new-checkout', action: 'update', baseVersion: 1, needsApproval: false, diff: [{ path: 'tags', before: ['checkout'], after: ['checkout', 'q3'] }, { path: 'rollout.percentage', before: 5, after: 25 }] },
      ],
    });
    const readable = await cli('plan', '-f', folder);
    expect(readable.stdout).toContain('~ update flag new-checkout (version 1)\n    tags: ["checkout"] → ["checkout","q3"]\n    rollout.percentage: 5 → 25\n');
    expect(readable.stdout).toContain('Plan: 1 to create, 1 to change, 0 to remove.');

    const applied = await cli('apply', '-f', folder);
    expect(applied).toMatchObject({ code: 0 });
    expect(applied.stdout).toContain('✓ flag new-checkout: updated (version 2)');
    expect(applied.stdout).toContain('✓ flag dark-mode: created (version 1)');
    expect(await harness.flag('new-checkout')).toMatchObject({ version: 2, tags: ['checkout', 'q3'], rollout: { percentage: 25 }, rules: [{ id: 'beta' }] });

    const again = await cli('plan', '-f', folder, '-o', 'json');
    expect(JSON.parse(again.stdout).changes).toEqual([]);
    expect((await cli('plan', '-f', folder)).stdout).toContain('No changes');
    const reapplied = await cli('apply', '-f', folder);
    expect(reapplied).toMatchObject({ code: 0 });
    expect(reapplied.stdout).toContain('No changes');
    expect((await harness.flag('new-checkout')).version).toBe(2);
  });

  it('refuses to apply a saved plan when the server changed since, and writes nothing', async () => {
    editFlagFile('new-checkout', (flag) => (flag.rollout = { percentage: 50 }));
    const planFile = join(folder, '..', `plan-${Date.now()}.json`);
    expect((await cli('plan', '-f', folder, '--save', planFile)).code).toBe(0);
    const edit = await harness.api.request('PATCH', '/v1/flags/new-checkout', { body: { description: 'edited on the server' }, headers: { 'if-match': '"2"' } });
    expect(edit.status).toBe(200);

    const refused = await cli('apply', '-f', folder, '--plan', planFile);
    expect(refused.code).toBe(3);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('flag new-checkout is at version 3, the plan was made against version 2');
    expect(refused.stderr).toContain('nothing was applied');
    expect(await harness.flag('new-checkout')).toMatchObject({ version: 3, description: 'edited on the server', rollout: { percentage: 25 } });
    rmSync(planFile);
    // Start the next step from what the server has.
    expect((await cli('export', '--dir', folder)).code).toBe(0);
  });

  it('files a change request for a high-impact flag and says so (exit 4), leaving the flag as it was', async () => {
    editFlagFile('payments-core', (flag) => (flag.defaultValue = true));
    const applied = await cli('apply', '-f', folder, '--reason', 'launch day');
    expect(applied.code).toBe(4);
    expect(applied.stdout).toMatch(/! flag payments-core: high-impact, change request cr_\S+ filed; it waits for a second person/);
    expect(applied.stdout).toContain('Applied 0 of 1 changes; 1 wait for approval');
    const pending = await harness.api.request('GET', '/v1/changes?status=pending&flagKey=payments-core');
    expect(pending.body.items).toHaveLength(1);
    expect(pending.body.items[0]).toMatchObject({ kind: 'patch', reason: 'launch day', change: { patch: { defaultValue: true, offValue: null } } });
    expect(await harness.flag('payments-core')).toMatchObject({ version: 1, defaultValue: false });
  });

  it('archives what the document leaves out only with --prune', async () => {
    rmSync(flagFile('banner-text'));
    rmSync(flagFile('payments-core'));
    const plain = await cli('plan', '-f', folder, '-o', 'json');
    expect(JSON.parse(plain.stdout).changes.filter((change: { action: string }) => change.action === 'archive')).toEqual([]);
    const pruned = await cli('plan', '-f', folder, '--prune', '-o', 'json');
    expect(JSON.parse(pruned.stdout).changes.filter((change: { action: string }) => change.action === 'archive').map((change: { key: string }) => change.key)).toEqual(['banner-text', 'payments-core']);
  });
});

describe('flagship import flagd', () => {
  let harness: RolloutHarness;
  let folder: string;
  let cli: (...args: string[]) => Promise<CliRun>;
  const flagdFlags = {
    'color-scheme': {
      state: 'ENABLED',
      variants: { dark: 'dark', light: 'light', system: 'system' },
      defaultVariant: 'system',
      targeting: { if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'dark', { if: [{ and: [{ ends_with: [{ var: 'email' }, '@example.com'] }, { '>=': [{ var: 'age' }, 18] }] }, 'light', null] }] },
      metadata: { description: 'Colour scheme' },
    },
    'new-banner': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { if: [{ or: [{ '==': [{ var: 'plan' }, 'pro'] }, { sem_ver: [{ var: 'appVersion' }, '>=', '2.1.0'] }] }, 'on'] } },
    'old-search': { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  };
  const contexts = [
    { targetingKey: 'u-1', country: 'DE', email: 'a@example.com', age: 30, plan: 'free', appVersion: '1.0.0' },
    { targetingKey: 'u-2', country: 'US', email: 'b@example.com', age: 30, plan: 'pro', appVersion: '1.0.0' },
    { targetingKey: 'u-3', country: 'US', email: 'c@example.com', age: 12, plan: 'free', appVersion: '2.1.0' },
    { targetingKey: 'u-4', country: 'NL', email: 'd@other.org', age: 40, plan: 'free', appVersion: '2.0.9' },
  ];

  beforeAll(async () => {
    harness = await startRolloutHarness({ worker: false });
    folder = mkdtempSync(join(tmpdir(), 'flagship-flagd-'));
    cli = (...args) => runCli(args, { env: { FLAGSHIP_URL: harness.api.baseUrl, FLAGSHIP_TOKEN: harness.api.adminToken } });
  });
  afterAll(async () => {
    await harness.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('refuses, by name, what does not translate, and writes nothing', async () => {
    const source = join(folder, 'with-fractional.json');
    writeFileSync(source, JSON.stringify({ flags: { ...flagdFlags, 'split-test': { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'a', targeting: { fractional: [['a', 50], ['b', 50]] } }, CamelCase: { state: 'ENABLED', variants: { on: true }, defaultVariant: 'on' } } }));
    const refused = await cli('import', 'flagd', source, '--file', join(folder, 'never.yaml'));
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('flag "split-test": "fractional" buckets with flagd\'s own hashing');
    expect(refused.stderr).toContain('flag "CamelCase": the key has characters');
    const skipped = await cli('import', 'flagd', source, '--skip-unsupported');
    expect(skipped.code).toBe(1);
    expect(skipped.stderr).toContain('left out flag "split-test"');
    expect((parse(skipped.stdout) as { flags: { key: string }[] }).flags.map((flag) => flag.key)).toEqual(['color-scheme', 'new-banner', 'old-search']);
  });

  it('round-trips: import, apply, export gives the imported document, and the service serves what flagd-core serves', async () => {
    const source = join(folder, 'flags.flagd.json');
    writeFileSync(source, JSON.stringify({ $schema: 'https://flagd.dev/schema/v0/flags.json', flags: flagdFlags }));
    const imported = join(folder, 'imported.yaml');
    expect(await cli('import', 'flagd', source, '--file', imported)).toMatchObject({ code: 0 });
    expect(await cli('apply', '-f', imported)).toMatchObject({ code: 0 });
    expect((await cli('export')).stdout).toBe(readFileSync(imported, 'utf8'));
    expect(JSON.parse((await cli('plan', '-f', imported, '-o', 'json')).stdout).changes).toEqual([]);

    const flagd = new FlagdCore();
    flagd.setConfigurations(JSON.stringify({ flags: flagdFlags }));
    for (const context of contexts) {
      for (const key of ['color-scheme', 'new-banner', 'old-search']) {
        const expected = key === 'color-scheme' ? flagd.resolveStringEvaluation(key, 'x', context) : flagd.resolveBooleanEvaluation(key, true, context);
        const served = await harness.api.request('POST', '/v1/evaluate', { body: { flagKey: key, context } });
        // A disabled flagd flag answers the caller's default; Flagship serves the flag's off value, the default variant's.
        const value = key === 'old-search' ? true : expected.value;
        expect({ key, context: context.targetingKey, value: served.body.value }).toEqual({ key, context: context.targetingKey, value });
      }
    }
  });
});

describe('GET /openfeature/v0/manifest', () => {
  it('lists the active flags for OpenFeature code generation, and is in the OpenAPI document', async () => {
    const harness = await startRolloutHarness({ worker: false });
    try {
      for (const flag of [
        { key: 'retries', type: 'number', defaultValue: 3, description: 'How often to retry' },
        { key: 'ratio', type: 'number', defaultValue: 0.5 },
        { key: 'theme', type: 'json', defaultValue: { color: 'blue' } },
        { key: 'gone', type: 'boolean', defaultValue: false },
      ]) expect((await harness.api.request('POST', '/v1/flags', { body: flag })).status).toBe(201);
      expect((await harness.api.request('POST', '/v1/flags/gone/archive', { body: {} })).status).toBe(200);
      const manifest = await harness.api.request('GET', '/openfeature/v0/manifest');
      expect(manifest.status).toBe(200);
      expect(manifest.body).toEqual({
        flags: [
          { key: 'ratio', name: 'ratio', type: 'float', description: null, defaultValue: 0.5 },
          { key: 'retries', name: 'retries', type: 'integer', description: 'How often to retry', defaultValue: 3 },
          { key: 'theme', name: 'theme', type: 'object', description: null, defaultValue: { color: 'blue' } },
        ],
      });
      expect((await harness.api.request('GET', '/openfeature/v0/manifest', { token: null })).status).toBe(401);
      const openapi = await harness.api.request('GET', '/openapi.json', { token: null });
      expect(openapi.body.paths['/openfeature/v0/manifest'].get.operationId).toBe('getOpenFeatureManifest');
    } finally {
      await harness.close();
    }
  });
});
