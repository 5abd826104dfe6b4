// schemathesis over /openapi.json with the admin token (issue 11, "Done when"): generated and
// mutated requests against the real API on a real PostgreSQL and Temporal, checked for server
// errors and for answers that break the document (schema, status, content type). Zero failures.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOutboundClient } from '../../src/outbound/outbound-client.ts';
import type { TestApi } from '../support/api.ts';
import { quietTemporal } from '../support/logger.ts';
import { publicOnlyPolicy } from '../support/outbound.ts';
import { startRolloutHarness, type RolloutHarness } from '../support/rollout-harness.ts';
import { ensureSchemathesis, runSchemathesis } from '../support/schemathesis.ts';
import { TOOL_INSTALL_TIMEOUT_MS, untilToolInstalled } from '../support/test-tools.ts';

/**
 * Left out: the event stream, which never ends by design (test/integration/events.test.ts covers it).
 * Token revocation stays in: the admin token schemathesis runs with cannot revoke itself, nor the
 * last unlimited admin token, so the run keeps its token whatever it tries.
 */
const EXCLUDED_OPERATIONS = ['streamEvents'];
const CHECKS = ['not_a_server_error', 'response_schema_conformance', 'status_code_conformance', 'content_type_conformance'];
/** Examples per operation and phase: about 3,000 requests over 50 operations, 30–90 s on this 2-core machine. */
const MAX_EXAMPLES = Number(process.env.SCHEMATHESIS_MAX_EXAMPLES ?? 15);
const SEED = Number(process.env.SCHEMATHESIS_SEED ?? 20_241_111);
/** A guard against a hung run, not the expected time. */
const TIMEOUT_MS = 200_000;

let harness: RolloutHarness;
let api: TestApi;
let interpreter: string;
const workDir = mkdtempSync(join(tmpdir(), 'schemathesis-'));
/** Values of path and body parameters that name things that exist, for schemathesis to use half the time. */
const existing: Record<string, string[]> = {};

/**
 * Data the generated requests can find: without it nearly every request with a key in its path is a
 * 404, and the routes' real work (evaluating, patching, approving) would never run.
 */
async function seed(): Promise<void> {
  const write = async (method: string, path: string, body?: unknown) => {
    const response = await api.request(method, path, { ...(body === undefined ? {} : { body }) });
    if (response.status >= 300 && response.status !== 202) throw new Error(`seeding ${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  };
  await write('POST', '/v1/segments', { key: 'seeded-segment', name: 'Seeded', conditions: [{ attribute: 'country', op: 'in', value: ['DE', 'FR'] }] });
  await write('POST', '/v1/flags', {
    key: 'seeded-flag', type: 'boolean', defaultValue: false, tags: ['seeded'], killswitch: 'seeded-category',
    rules: [{ id: 'beta', conditions: [{ segment: 'seeded-segment' }], serve: { value: true } }], rollout: { percentage: 25 },
  });
  await write('POST', '/v1/flags', { key: 'seeded-layout', type: 'string', defaultValue: 'a', variants: { A: 'a', B: 'b' }, rollout: { distribution: [{ variant: 'A', weight: 50 }, { variant: 'B', weight: 50 }] } });
  await write('POST', '/v1/flags', { key: 'seeded-config', type: 'json', defaultValue: { limits: [1, 2, { nested: true }] } });
  await write('POST', '/v1/flags', { key: 'seeded-guarded', type: 'boolean', defaultValue: false, highImpact: true });
  await write('POST', '/v1/flags/seeded-layout/rollouts', { steps: [{ distribution: [{ variant: 'A', weight: 30 }, { variant: 'B', weight: 70 }], after: '1h' }, { distribution: [{ variant: 'A', weight: 0 }, { variant: 'B', weight: 100 }], after: '1d' }] });
  // Filed by someone else, so the admin token schemathesis runs with may approve or reject it.
  const alice = (await write('POST', '/v1/tokens', { name: 'alice', owner: { id: 'alice@example.com', name: 'Alice' }, scopes: ['feature_flag:manage'] })).token as string;
  const change = (await api.request('PATCH', '/v1/flags/seeded-guarded', { token: alice, body: { version: 1, description: 'awaiting approval' } })).body;
  const webhook = await write('POST', '/v1/webhooks', { url: 'https://hooks.example.com/flags', eventTypes: ['flag.*'] });
  Object.assign(existing, {
    'flag-keys': ['seeded-flag', 'seeded-layout', 'seeded-config', 'seeded-guarded'],
    'segment-keys': ['seeded-segment'],
    categories: ['seeded-category'],
    ids: [change.error.details.id, webhook.id],
  });
}

/** schemathesis.toml: dictionaries of what exists, bound to the parameters that name it. */
function configFile(): string {
  const list = (values: string[]) => `[${values.map((value) => JSON.stringify(value)).join(', ')}]`;
  const half = (dictionary: string) => `{ dictionary = "${dictionary}", probability = 0.5 }`;
  const path = join(workDir, 'schemathesis.toml');
  writeFileSync(path, [
    ...Object.entries(existing).map(([name, values]) => `[dictionaries.${name}]\nvalues = ${list(values)}\n`),
    '[parameters]',
    `"path.key" = ${half('flag-keys')}`,
    `"body.flagKey" = ${half('flag-keys')}`,
    `"path.category" = ${half('categories')}`,
    `"path.id" = ${half('ids')}`,
    '',
  ].join('\n'));
  return path;
}

beforeAll(async () => {
  await untilToolInstalled('schemathesis');
  interpreter = ensureSchemathesis((message) => console.warn(message));
  quietTemporal();
  // The whole service: the API and a worker on a task queue of this file's own, so approvals apply,
  // rollouts run and killswitches pause them. Generated webhook and gate URLs name made-up hosts:
  // they are checked by the real policy but resolved by nobody, so fuzzing sends no DNS query anywhere.
  harness = await startRolloutHarness({
    outbound: createOutboundClient({
      policy: publicOnlyPolicy,
      resolve: async () => {
        throw Object.assign(new Error('not resolved while fuzzing'), { code: 'ENOTFOUND' });
      },
    }),
  });
  api = harness.api;
  await seed();
}, TOOL_INSTALL_TIMEOUT_MS + 240_000);

afterAll(async () => {
  await harness.close();
  rmSync(workDir, { recursive: true, force: true });
});

interface Report {
  operations?: { total?: number; tested?: number };
  test_cases?: { generated?: number };
}

describe('schemathesis', () => {
  it(
    'finds no server error and no answer that contradicts /openapi.json',
    async () => {
      const reportPath = join(workDir, 'report.json');
      const harPath = join(workDir, 'requests.har');
      const started = performance.now();
      const run = await runSchemathesis(
        interpreter,
        [
          '--config-file', configFile(),
          'run',
          `${api.baseUrl}/openapi.json`,
          '--header', `Authorization: Bearer ${api.adminToken}`,
          '--checks', CHECKS.join(','),
          ...EXCLUDED_OPERATIONS.flatMap((operationId) => ['--exclude-operation-id', operationId]),
          '--max-examples', String(MAX_EXAMPLES),
          '--seed', String(SEED),
          '--workers', '2',
          '--request-timeout', '20',
          '--generation-database', 'none',
          '--report', 'json,har',
          '--report-json-path', reportPath,
          '--report-har-path', harPath,
          '--no-color',
        ],
        TIMEOUT_MS,
        workDir,
      );
      const seconds = (performance.now() - started) / 1000;
      if (run.exitCode === null) throw new Error(`schemathesis did not finish within ${TIMEOUT_MS / 1000} s:\n${run.output.split('\n').slice(-40).join('\n')}`);
      const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
      const requests = (JSON.parse(readFileSync(harPath, 'utf8')) as { log: { entries: unknown[] } }).log.entries.length;
      console.log(`schemathesis: ${report.operations?.tested} operations tested (of ${report.operations?.total}), ${requests} requests, ${report.test_cases?.generated} test cases, in ${seconds.toFixed(0)} s`);
      expect(report.operations?.tested).toBe((report.operations?.total ?? 0) - EXCLUDED_OPERATIONS.length);
      expect(requests).toBeGreaterThan(1_000);
      expect({ exitCode: run.exitCode, output: run.exitCode === 0 ? '' : run.output }).toEqual({ exitCode: 0, output: '' });
    },
    TIMEOUT_MS + 30_000,
  );
});
