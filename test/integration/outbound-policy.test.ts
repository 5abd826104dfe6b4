// Server-side request forgery (issue 11, defect 1): rollout gates and webhooks reach only what the
// outbound policy allows, checked when the URL is written and again at every request after DNS
// resolution, connecting to the address that was checked; no redirects; no echo of what the remote
// side answered. Every target here listens on loopback, and the requests that must be refused are
// refused before any connection; the private and metadata addresses are tried only inside a
// network namespace of their own (unshare -n), where nothing could leave the machine anyway.
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startWebhookDispatcher } from '../../src/events/webhook-dispatcher.ts';
import { createOutboundClient, OutboundError, type ResolveFunction } from '../../src/outbound/outbound-client.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { quietTemporal, testLog } from '../support/logger.ts';
import { loopbackPolicy, publicOnlyPolicy } from '../support/outbound.ts';
import { startRolloutHarness, type RolloutHarness } from '../support/rollout-harness.ts';
import { startRolloutWorker } from '../support/rollout-worker.ts';

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
}

/** A loopback server that records every request and answers by path. */
async function startTarget(answer: (path: string) => { status: number; body?: string; headers?: Record<string, string> } | 'hang'): Promise<{ url: string; port: number; hits: Hit[]; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const server: Server = createServer((request, response) => {
    hits.push({ path: request.url ?? '', headers: request.headers });
    const reply = answer(request.url ?? '');
    if (reply === 'hang') return;
    response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(reply.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A resolver for names that exist only in this test; counts its calls. */
function fakeResolver(answers: Record<string, string>): ResolveFunction & { calls: number } {
  const resolve = async (hostname: string) => {
    resolve.calls += 1;
    const address = answers[hostname];
    if (!address) throw Object.assign(new Error(`no such name ${hostname}`), { code: 'ENOTFOUND' });
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };
  resolve.calls = 0;
  return resolve;
}

/** What a public name resolves to at write time in these tests; nothing ever connects to it. */
const PUBLIC_ADDRESS = '93.184.215.14';

async function failure(promise: Promise<unknown>): Promise<OutboundError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OutboundError) return error;
    throw error;
  }
  throw new Error('the request succeeded');
}

describe('the outbound client', () => {
  let target: Awaited<ReturnType<typeof startTarget>>;
  beforeAll(async () => {
    target = await startTarget((path) => {
      if (path === '/redirect') return { status: 302, headers: { location: '/landing' } };
      if (path === '/slow') return 'hang';
      if (path === '/big') return { status: 200, body: 'x'.repeat(2_000) };
      return { status: 200, body: '{"ok":true}' };
    });
  });
  afterAll(() => target.close());

  it('refuses loopback under the production policy before connecting, whether named by address or by name', async () => {
    const client = createOutboundClient({ policy: publicOnlyPolicy });
    const byAddress = await failure(client.request(`${target.url}/a`, { method: 'GET', timeoutMs: 2_000, maxBodyBytes: 1_000 }));
    expect(byAddress).toMatchObject({ kind: 'refused', message: 'refused by the outbound policy: 127.0.0.1 is a loopback address (allow it with FLAGS_OUTBOUND_ALLOW)' });
    const byName = await failure(client.request(`http://localhost:${target.port}/b`, { method: 'GET', timeoutMs: 2_000, maxBodyBytes: 1_000 }));
    expect(byName).toMatchObject({ kind: 'refused', message: 'refused by the outbound policy: localhost resolves to a loopback address (allow it with FLAGS_OUTBOUND_ALLOW)' });
    const mapped = await failure(client.request(`http://[::ffff:127.0.0.1]:${target.port}/c`, { method: 'GET', timeoutMs: 2_000, maxBodyBytes: 1_000 }));
    expect(mapped.kind).toBe('refused');
    expect(target.hits).toEqual([]);
  });

  it('resolves once and connects to the address it checked: a name that rebinds to loopback is refused, and an allowed one is pinned', async () => {
    const rebinding = fakeResolver({ 'rebind.example': '127.0.0.1' });
    const strict = createOutboundClient({ policy: publicOnlyPolicy, resolve: rebinding });
    expect(await strict.refusal(`http://rebind.example:${target.port}/`)).toBe('refused by the outbound policy: rebind.example resolves to a loopback address (allow it with FLAGS_OUTBOUND_ALLOW)');
    const refused = await failure(strict.request(`http://rebind.example:${target.port}/rebound`, { method: 'GET', timeoutMs: 2_000, maxBodyBytes: 1_000 }));
    expect(refused.kind).toBe('refused');
    expect(target.hits.filter((hit) => hit.path === '/rebound')).toEqual([]);

    // The system resolver knows no "pinned.example": the request reaches the server only because the
    // socket connects to the address this client resolved and checked, not to a second lookup's.
    const pinnedResolver = fakeResolver({ 'pinned.example': '127.0.0.1' });
    const allowed = createOutboundClient({ policy: loopbackPolicy, resolve: pinnedResolver });
    const response = await allowed.request(`http://pinned.example:${target.port}/pinned`, { method: 'GET', timeoutMs: 2_000, maxBodyBytes: 1_000 });
    expect(response.status).toBe(200);
    expect(pinnedResolver.calls).toBe(1);
    expect(target.hits.find((hit) => hit.path === '/pinned')?.headers.host).toBe(`pinned.example:${target.port}`);
  });

  it('does not follow redirects, stops at the timeout and at the body limit', async () => {
    const client = createOutboundClient({ policy: loopbackPolicy });
    const redirected = await client.request(`${target.url}/redirect`, { method: 'GET', timeoutMs: 2_000, maxBodyBytes: 1_000 });
    expect(redirected.status).toBe(302);
    expect(target.hits.some((hit) => hit.path === '/landing')).toBe(false);
    expect(await failure(client.request(`${target.url}/slow`, { method: 'GET', timeoutMs: 200, maxBodyBytes: 1_000 }))).toMatchObject({ kind: 'timeout', message: 'timed out after 200 ms' });
    expect(await failure(client.request(`${target.url}/big`, { method: 'GET', timeoutMs: 2_000, maxBodyBytes: 1_000 }))).toMatchObject({ kind: 'too_large' });
  });

  it('refuses private, link-local, metadata and IPv6 special addresses by policy, where an allowed public one would meet the network (unshare -n)', () => {
    const script = `
      import { createOutboundClient } from ${JSON.stringify(new URL('../../src/outbound/outbound-client.ts', import.meta.url).pathname)};
      import { parseOutboundAllowList } from ${JSON.stringify(new URL('../../src/outbound/outbound-policy.ts', import.meta.url).pathname)};
      const client = createOutboundClient({ policy: parseOutboundAllowList(undefined) });
      const urls = ${JSON.stringify([
        'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
        'http://[fd00:ec2::254]/latest/meta-data/',
        'http://metadata.google.internal.localhost/',
        'http://10.0.0.1/',
        'http://192.168.1.1/',
        'http://100.64.0.1/',
        'http://0x7f.1/',
        'http://2130706433/',
        'http://[::ffff:169.254.169.254]/',
        'http://[fe80::1]/',
        'http://[64:ff9b::a00:1]/',
        'http://0.0.0.0:80/',
        `http://${PUBLIC_ADDRESS}/`,
      ])};
      const outcomes = {};
      for (const url of urls) {
        try { await client.request(url, { method: 'GET', timeoutMs: 2000, maxBodyBytes: 1000 }); outcomes[url] = 'answered'; }
        catch (error) { outcomes[url] = error.kind + (error.kind === 'refused' ? ':' + error.detail : ''); }
      }
      process.stdout.write(JSON.stringify(outcomes));
    `;
    const run = spawnSync('unshare', ['-rn', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/': 'refused:metadata',
      'http://[fd00:ec2::254]/latest/meta-data/': 'refused:metadata',
      'http://metadata.google.internal.localhost/': 'refused:loopback',
      'http://10.0.0.1/': 'refused:private',
      'http://192.168.1.1/': 'refused:private',
      'http://100.64.0.1/': 'refused:cgnat',
      'http://0x7f.1/': 'refused:loopback',
      'http://2130706433/': 'refused:loopback',
      'http://[::ffff:169.254.169.254]/': 'refused:metadata',
      'http://[fe80::1]/': 'refused:link-local',
      'http://[64:ff9b::a00:1]/': 'refused:private',
      'http://0.0.0.0:80/': 'refused:unspecified',
      // The control: allowed by the policy, so it meets the namespace's missing network instead.
      [`http://${PUBLIC_ADDRESS}/`]: 'network',
    });
  });
});

describe('webhooks under the outbound policy', () => {
  let api: TestApi;
  beforeAll(async () => {
    // The API checks with a resolver that says "public"; the dispatcher's says "loopback": DNS rebinding.
    api = await startTestApi({ outbound: createOutboundClient({ policy: publicOnlyPolicy, resolve: fakeResolver({ 'hooks.rebind.example': PUBLIC_ADDRESS }) }) });
  });
  afterAll(() => api.close());

  it('refuses internal URLs when they are written, naming the field, and stores nothing', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://127.0.0.1:9/hook', 'http://localhost:9/hook', 'http://[::1]:9/hook', 'http://10.0.0.1/hook', 'http://[::ffff:10.0.0.1]/hook']) {
      const response = await api.request('POST', '/v1/webhooks', { body: { url } });
      expect({ url, status: response.status, code: response.body.error?.code, path: response.body.error?.details?.issues?.[0]?.path }).toEqual({ url, status: 400, code: 'validation_error', path: 'url' });
      expect(response.body.error.message).toMatch(/refused by the outbound policy/);
    }
    expect((await api.request('GET', '/v1/webhooks')).body.webhooks).toEqual([]);
  });

  it('checks again at delivery: a name that rebinds to loopback gets no request, and lastError says so without the address', async () => {
    const receiver = await startTarget(() => ({ status: 200 }));
    const dispatcher = startWebhookDispatcher({
      db: api.db.pool,
      log: testLog,
      pollIntervalMs: 50,
      backoff: { baseMs: 100, maxMs: 400 },
      outbound: createOutboundClient({ policy: publicOnlyPolicy, resolve: fakeResolver({ 'hooks.rebind.example': '127.0.0.1' }) }),
    });
    try {
      const created = await api.request('POST', '/v1/webhooks', { body: { url: `http://hooks.rebind.example:${receiver.port}/hook` } });
      expect(created.status).toBe(201);
      const { value: state } = await eventually(async () => (await api.request('GET', `/v1/webhooks/${created.body.id}`)).body, (webhook) => webhook.failedCount >= 1, 10_000);
      expect(state.lastError).toBe('refused by the outbound policy: hooks.rebind.example resolves to a loopback address (allow it with FLAGS_OUTBOUND_ALLOW)');
      expect(state.deliveredCount).toBe(0);
      expect(receiver.hits).toEqual([]);
      await api.request('DELETE', `/v1/webhooks/${created.body.id}`);
    } finally {
      await dispatcher.stop();
      await receiver.close();
    }
  });
});

describe('rollout gates under the outbound policy', () => {
  let harness: RolloutHarness;
  let target: Awaited<ReturnType<typeof startTarget>>;

  beforeAll(async () => {
    quietTemporal();
    target = await startTarget((path) => {
      if (path === '/internal') return { status: 200, body: JSON.stringify({ secret: 'TOPSECRET' }) };
      if (path === '/redirect') return { status: 302, headers: { location: '/internal' } };
      return { status: 200, body: JSON.stringify({ rate: 0 }) };
    });
    harness = await startRolloutHarness({ worker: false, outbound: createOutboundClient({ policy: publicOnlyPolicy, resolve: fakeResolver({ 'metrics.rebind.example': PUBLIC_ADDRESS }) }) });
  });
  afterAll(async () => {
    await harness.close();
    await target.close();
  });

  it('refuses a plan whose gates name internal addresses, naming each, and starts nothing', async () => {
    await harness.createFlag('ssrf-plan');
    const response = await harness.api.request('POST', '/v1/flags/ssrf-plan/rollouts', {
      body: {
        gate: { type: 'http', url: 'http://169.254.169.254/latest/meta-data/', jsonPath: '$.x', max: 1 },
        steps: [{ percentage: 10, after: '1s' }, { percentage: 20, after: '1s', gate: { type: 'prometheus', url: 'http://[::1]:9090', query: 'up', min: 1 } }],
      },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['gate.url', 'steps[1].gate.url']);
    expect((await harness.api.request('GET', '/v1/flags/ssrf-plan/rollouts')).body.items).toEqual([]);
  });

  it('checks again at each probe: a gate whose name rebinds to loopback pauses the rollout, refused, with no request made', async () => {
    harness.worker = await startRolloutWorker({ databaseUrl: harness.api.db.url, taskQueue: harness.taskQueue, outbound: createOutboundClient({ policy: publicOnlyPolicy, resolve: fakeResolver({ 'metrics.rebind.example': '127.0.0.1' }) }) });
    await harness.createFlag('ssrf-rebind');
    const started = await harness.api.request('POST', '/v1/flags/ssrf-rebind/rollouts', {
      body: { gate: { type: 'http', url: `http://metrics.rebind.example:${target.port}/metric`, jsonPath: '$.rate', max: 1 }, steps: [{ percentage: 10, after: '0s' }] },
    });
    expect(started.status).toBe(201);
    const paused = await harness.waitForRollout('ssrf-rebind', (rollout) => rollout.state === 'paused', 'paused by the refused gate');
    expect(paused.pause.reason).toBe(`gate before step 1 failed: probe http://metrics.rebind.example:${target.port}/metric refused by the outbound policy: metrics.rebind.example resolves to a loopback address (allow it with FLAGS_OUTBOUND_ALLOW)`);
    expect(target.hits).toEqual([]);
    await harness.worker.stop();
    harness.worker = null;
  });

  it('where loopback is allowed, a gate reading a secret says "not a number" without the secret, and does not follow a redirect to it', async () => {
    // The API here refuses loopback URLs, so the plan names the target by a name it resolves as
    // public; the worker allows loopback, as the embedded default does, and resolves it there.
    const url = (path: string) => `http://metrics.rebind.example:${target.port}${path}`;
    harness.worker = await startRolloutWorker({
      databaseUrl: harness.api.db.url,
      taskQueue: harness.taskQueue,
      outbound: createOutboundClient({ policy: loopbackPolicy, resolve: fakeResolver({ 'metrics.rebind.example': '127.0.0.1' }) }),
    });

    await harness.createFlag('ssrf-secret');
    await harness.api.request('POST', '/v1/flags/ssrf-secret/rollouts', { body: { gate: { type: 'http', url: url('/internal'), jsonPath: '$.secret', max: 1 }, steps: [{ percentage: 10, after: '0s' }] } });
    const secret = await harness.waitForRollout('ssrf-secret', (rollout) => rollout.state === 'paused', 'paused by the gate');
    expect(secret.pause.reason).toBe(`gate before step 1 failed: $.secret in the answer of ${url('/internal')} is missing or not a number`);

    await harness.createFlag('ssrf-redirect');
    await harness.api.request('POST', '/v1/flags/ssrf-redirect/rollouts', { body: { gate: { type: 'http', url: url('/redirect'), jsonPath: '$.secret', max: 1 }, steps: [{ percentage: 10, after: '0s' }] } });
    const redirected = await harness.waitForRollout('ssrf-redirect', (rollout) => rollout.state === 'paused', 'paused by the redirecting gate');
    expect(redirected.pause.reason).toBe(`gate before step 1 failed: probe ${url('/redirect')} answered HTTP 302; redirects are not followed`);
    expect(target.hits.map((hit) => hit.path)).toEqual(['/internal', '/redirect']);
    const events = await harness.events('ssrf-secret');
    expect(JSON.stringify(events)).not.toContain('TOPSECRET');
  });
});
