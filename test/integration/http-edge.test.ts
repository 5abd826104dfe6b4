// The API's edge (issue 11, defects 6 and 8): no input, however hostile, gets a 5xx or a half-written
// change; every answer carries security headers and a request id; an access log that leaves the
// evaluation hot path alone; /metrics behind a scope or on a port of its own.
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { serveMetrics } from '../../src/api/metrics-routes.ts';
import { sql } from '../../src/data/sql.ts';
import { createLogger } from '../../src/log.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

/** Every line the API logged, parsed. */
const logLines: Record<string, unknown>[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ log: createLogger('info', 'edge-test', logSink) });
  const created = await api.request('POST', '/v1/flags', { body: { key: 'edge-flag', type: 'boolean', defaultValue: false } });
  expect(created.status).toBe(201);
});
afterAll(() => api.close());

/** A request whose body is sent byte for byte, as the test gives it. */
async function rawRequest(method: string, path: string, body: Uint8Array | string | undefined, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${api.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the test will say so.
  }
  return { status: response.status, headers: response.headers, body: parsed as { error?: { code: string; message: string; details?: { issues?: { path: string }[] } } } & Record<string, unknown> };
}

/** Sends exactly these bytes over a socket and returns the status line, headers and body of the answer. */
function socketRequest(request: string): Promise<{ statusLine: string; headers: Record<string, string>; body: string }> {
  const { port } = new URL(api.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      resolve({ statusLine, headers: Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()])), body });
    });
  });
}

const cursor = (value: string) => Buffer.from(value).toString('base64url');

async function countRows(table: 'flags' | 'outbox'): Promise<number> {
  return api.db.pool.oneFirst(sql.type(z.object({ count: z.number() }))`SELECT count(*)::int AS count FROM ${sql.identifier([table])}`);
}

describe('zero 5xx from any input (defect 6)', () => {
  it('refuses a NUL or invalid percent-encoding in a query parameter', async () => {
    for (const query of ['q=%00', 'q=a%00b', 'tag=%00', 'prefix=%ED%A0%80', 'q=%FF', '%00=x']) {
      const response = await rawRequest('GET', `/v1/flags?${query}`, undefined);
      expect({ query, status: response.status, code: response.body.error?.code }).toEqual({ query, status: 400, code: 'validation_error' });
    }
    expect((await rawRequest('GET', '/v1/audit?actor=%00', undefined)).status).toBe(400);
  });

  it('refuses a NUL in a path parameter', async () => {
    for (const path of ['/v1/flags/%00', '/v1/segments/a%00b', '/v1/changes/%00', '/v1/webhooks/%00']) {
      const response = await rawRequest('GET', path, undefined);
      expect({ path, status: response.status, code: response.body.error?.code }).toEqual({ path, status: 400, code: 'validation_error' });
    }
  });

  it('refuses NUL and lone surrogates anywhere in a JSON body, keys included, and writes nothing', async () => {
    const flags = await countRows('flags');
    const outbox = await countRows('outbox');
    const bodies: [string, string, string][] = [
      ['POST', '/v1/flags', '{"key":"nul-flag","type":"boolean","defaultValue":false,"description":"a\\u0000b"}'],
      ['POST', '/v1/flags', '{"key":"surrogate-flag","type":"boolean","defaultValue":false,"tags":["\\ud800"]}'],
      ['POST', '/v1/flags', '{"key":"json-flag","type":"json","defaultValue":{"a\\u0000":1}}'],
      ['POST', '/v1/exposures', `{"exposures":[{"flagKey":"edge-flag","flagVersion":1,"reason":"default","userId":"u\\u0000","at":"${new Date().toISOString()}"}]}`],
      ['POST', '/v1/evaluate', '{"flagKey":"edge-flag","context":{"userId":"\\udfff"}}'],
      ['POST', '/ofrep/v1/evaluate/flags/edge-flag', '{"context":{"targetingKey":"\\u0000"}}'],
      ['PATCH', '/v1/flags/edge-flag', '{"version":1,"description":"\\ud83d"}'],
    ];
    for (const [method, path, body] of bodies) {
      const response = await rawRequest(method, path, body);
      expect({ path, body, status: response.status }).toEqual({ path, body, status: 400 });
      expect(JSON.stringify(response.body)).toMatch(/NUL character|lone surrogate/);
    }
    // A surrogate pair is a character, not an error.
    const emoji = await rawRequest('POST', '/v1/evaluate', '{"flagKey":"edge-flag","context":{"userId":"\\ud83d\\ude00"}}');
    expect(emoji.status).toBe(200);
    expect(await countRows('flags')).toBe(flags);
    expect(await countRows('outbox')).toBe(outbox);
  });

  it('refuses a body that is not UTF-8 instead of storing U+FFFD', async () => {
    const body = Buffer.concat([Buffer.from('{"key":"latin1-flag","type":"boolean","defaultValue":false,"description":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const response = await rawRequest('POST', '/v1/flags', body);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'validation_error', message: 'request body is not valid UTF-8' });
    expect((await rawRequest('GET', '/v1/flags/latin1-flag', undefined)).status).toBe(404);
    // The same text, properly encoded, is accepted.
    expect((await rawRequest('POST', '/v1/flags', Buffer.from('{"key":"utf8-flag","type":"boolean","defaultValue":false,"description":"café"}'))).status).toBe(201);
  });

  it('bounds nesting before anything parses or validates it: a flag value 10,000 deep is a 400, not a 500', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    for (const [path, body] of [
      ['/v1/flags', `{"key":"deep-flag","type":"json","defaultValue":${deep}}`],
      ['/v1/evaluate', `{"flagKey":"edge-flag","context":{"deep":${deep}}}`],
      ['/v1/segments', `{"key":"deep","name":"x","conditions":${deep}}`],
      ['/ofrep/v1/evaluate/flags', `{"context":{"deep":${deep}}}`],
    ] as const) {
      const response = await rawRequest('POST', path, body);
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
      expect(JSON.stringify(response.body)).toContain('nested deeper than 64 levels');
    }
    // Brackets inside strings are text, not nesting.
    const textual = await rawRequest('POST', '/v1/flags', `{"key":"brackets","type":"string","defaultValue":"${'['.repeat(500)}"}`);
    expect(textual.status).toBe(201);
  });

  it('validates cursors: 1e999, 1.5, negative, huge, a NUL or not base64url are refused', async () => {
    for (const [path, value] of [
      ['/v1/audit', cursor('1e999')],
      ['/v1/audit', cursor('1.5')],
      ['/v1/audit', cursor('-3')],
      ['/v1/audit', cursor('0')],
      ['/v1/audit', cursor('9007199254740993')],
      ['/v1/changes', cursor('1e999')],
      ['/v1/flags/edge-flag/audit', cursor('1.5')],
      ['/v1/flags', cursor('"a\\u0000b"')],
      ['/v1/flags', cursor('12')],
      ['/v1/segments', cursor('{}')],
      ['/v1/flags', '1e999'],
      ['/v1/flags', '!!!'],
    ] as const) {
      const response = await rawRequest('GET', `${path}?cursor=${encodeURIComponent(value)}`, undefined);
      expect({ path, value, status: response.status, code: response.body.error?.code }).toEqual({ path, value, status: 400, code: 'validation_error' });
    }
    const page = await rawRequest('GET', '/v1/audit?limit=1', undefined);
    expect((await rawRequest('GET', `/v1/audit?limit=1&cursor=${page.body.nextCursor as string}`, undefined)).status).toBe(200);
  });

  it('answers unknown methods and paths with the contract\'s error body: 405 with Allow, 404, never 501', async () => {
    // fetch refuses to send TRACE, so every method goes over a socket as written.
    for (const method of ['TRACE', 'QUERY', 'PROPFIND', 'PUT']) {
      const answer = await socketRequest(`${method} /v1/flags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${api.adminToken}\r\nConnection: close\r\n\r\n`);
      const body = JSON.parse(answer.body) as { error: { code: string } };
      expect({ method, statusLine: answer.statusLine, code: body.error.code }).toEqual({ method, statusLine: 'HTTP/1.1 405 Method Not Allowed', code: 'method_not_allowed' });
      expect(answer.headers.allow).toBe('GET, HEAD, OPTIONS, POST');
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
    }
    const unknownPath = await rawRequest('GET', '/v1/nothing-here', undefined);
    expect(unknownPath).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    const options = await rawRequest('OPTIONS', '/v1/flags/edge-flag', undefined);
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('GET, HEAD, OPTIONS, PATCH');
    // Methods Node's parser itself refuses, and CONNECT, answer JSON too.
    for (const request of ['FOO /v1/flags HTTP/1.1\r\nHost: x\r\n\r\n', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'GET /v1/flags HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n']) {
      const answer = await socketRequest(request);
      expect(answer.statusLine).toMatch(/^HTTP\/1\.1 (400|405) /);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect((JSON.parse(answer.body) as { error: { code: string } }).error.code).toMatch(/^(validation_error|method_not_allowed)$/);
    }
  });

  it('refuses unknown fields in our own evaluation bodies and a body that is not JSON; OFREP keeps its open request', async () => {
    const unknownField = await rawRequest('POST', '/v1/evaluate', '{"flagKey":"edge-flag","context":{},"contxt":{"userId":"u"}}');
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error?.details?.issues?.[0]?.path).toBe('contxt');
    expect((await rawRequest('POST', '/v1/evaluate/bulk', '{"context":{},"flagKey":"edge-flag"}')).status).toBe(400);
    expect((await rawRequest('POST', '/v1/explain', '{"flagKey":"edge-flag","context":{},"extra":1}')).status).toBe(400);
    expect((await rawRequest('POST', '/ofrep/v1/evaluate/flags/edge-flag', '{"context":{},"extra":1}')).status).toBe(200);
    const textPlain = await rawRequest('POST', '/v1/evaluate', '{"flagKey":"edge-flag"}', { 'content-type': 'text/plain' });
    expect(textPlain).toMatchObject({ status: 400, body: { error: { code: 'validation_error' } } });
    const gzipped = await rawRequest('POST', '/v1/evaluate', '{"flagKey":"edge-flag"}', { 'content-encoding': 'gzip' });
    expect(gzipped).toMatchObject({ status: 400, body: { error: { code: 'validation_error' } } });
    const scalar = await rawRequest('POST', '/v1/evaluate', '"edge-flag"');
    expect(scalar).toMatchObject({ status: 400, body: { error: { code: 'validation_error' } } });
  });
});

describe('HTTP hygiene (defect 8)', () => {
  const expectSecurityHeaders = (headers: Headers, what: string) => {
    expect({ what, nosniff: headers.get('x-content-type-options'), frame: headers.get('x-frame-options'), csp: headers.get('content-security-policy'), referrer: headers.get('referrer-policy'), poweredBy: headers.get('x-powered-by') }).toEqual({
      what,
      nosniff: 'nosniff',
      frame: 'DENY',
      csp: "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      referrer: 'no-referrer',
      poweredBy: null,
    });
  };

  it('puts security headers and a request id on every answer: success, errors, OFREP, the event stream', async () => {
    const answers: [string, Response][] = [
      ['200', await fetch(`${api.baseUrl}/v1/flags/edge-flag`, { headers: { authorization: `Bearer ${api.adminToken}` } })],
      ['401', await fetch(`${api.baseUrl}/v1/flags`)],
      ['404', await fetch(`${api.baseUrl}/nowhere`)],
      ['400', await fetch(`${api.baseUrl}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' }, body: '{' })],
      ['ofrep', await fetch(`${api.baseUrl}/ofrep/v1/evaluate/flags/edge-flag`, { method: 'POST', headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' }, body: '{}' })],
      ['health', await fetch(`${api.baseUrl}/health`)],
    ];
    for (const [what, response] of answers) {
      expectSecurityHeaders(response.headers, what);
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.headers.get('strict-transport-security')).toBeNull();
      await response.arrayBuffer();
    }
    const stream = new AbortController();
    const events = await fetch(`${api.baseUrl}/v1/events`, { headers: { authorization: `Bearer ${api.adminToken}` }, signal: stream.signal });
    expect(events.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expectSecurityHeaders(events.headers, 'event stream');
    expect(events.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    stream.abort();
  });

  it('keeps a sane incoming X-Request-Id, replaces one that is not, and logs it on the request\'s lines', async () => {
    const kept = await fetch(`${api.baseUrl}/v1/flags/edge-flag`, { headers: { authorization: `Bearer ${api.adminToken}`, 'x-request-id': 'trace-42.abc' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42.abc');
    for (const insane of ['has spaces in it', 'x'.repeat(200), '"><script>']) {
      const replaced = await fetch(`${api.baseUrl}/v1/flags/edge-flag`, { headers: { authorization: `Bearer ${api.adminToken}`, 'x-request-id': insane } });
      expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    const line = logLines.find((entry) => entry.requestId === 'trace-42.abc');
    expect(line).toMatchObject({ level: 30, msg: 'request', method: 'GET', url: '/v1/flags/edge-flag', status: 200, operation: 'getFlag', actor: expect.any(String), tokenId: expect.stringMatching(/^tok_/), ms: expect.any(Number) });
  });

  it('logs every request at info, but successful evaluations only below it (debug by default)', async () => {
    const before = logLines.length;
    const evaluated = await fetch(`${api.baseUrl}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json', 'x-request-id': 'evaluation-ok' }, body: '{"flagKey":"edge-flag","context":{}}' });
    expect(evaluated.status).toBe(200);
    const missing = await fetch(`${api.baseUrl}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json', 'x-request-id': 'evaluation-404' }, body: '{"flagKey":"no-such-flag","context":{}}' });
    expect(missing.status).toBe(404);
    // The sentinel: a later request whose line must be there; everything before it has been written.
    await fetch(`${api.baseUrl}/v1/flags/edge-flag`, { headers: { authorization: `Bearer ${api.adminToken}`, 'x-request-id': 'sentinel' } });
    const lines = logLines.slice(before);
    expect(lines.map((entry) => entry.requestId)).toEqual(['evaluation-404', 'sentinel']);
    expect(lines[0]).toMatchObject({ level: 30, status: 404, operation: 'evaluate' });
  });

  it('sends HSTS only when configured', async () => {
    const withHsts = await startTestApi({}, { db: api.db, adminToken: api.adminToken, app: { hstsMaxAgeSeconds: 31_536_000 } });
    try {
      const response = await fetch(`${withHsts.baseUrl}/health`);
      expect(response.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
      await response.arrayBuffer();
    } finally {
      await withHsts.close();
    }
  });

  it('serves /metrics only to a token with feature_flag:metrics (or admin)', async () => {
    const token = async (name: string, scopes: string[]) => (await api.request('POST', '/v1/tokens', { body: { name, owner: { id: `${name}@example.com`, kind: 'service' }, scopes } })).body.token as string;
    const scraper = await token('prometheus', ['feature_flag:metrics']);
    const evaluator = await token('metrics-evaluator', ['feature_flag:evaluate']);
    expect((await fetch(`${api.baseUrl}/metrics`)).status).toBe(401);
    const denied = await api.request('GET', '/metrics', { token: evaluator });
    expect(denied).toMatchObject({ status: 403, body: { error: { code: 'permission_denied' } } });
    const allowed = await fetch(`${api.baseUrl}/metrics`, { headers: { authorization: `Bearer ${scraper}` } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await allowed.text()).toContain('flags_flags{state="active"}');
    // The scraper's token does nothing else.
    expect((await api.request('GET', '/v1/flags', { token: scraper })).status).toBe(403);
  });

  it('serves /metrics on a port of its own without a token, and then not on the API port', async () => {
    const apart = await startTestApi({}, { db: api.db, adminToken: api.adminToken, app: { metricsOnOwnPort: true } });
    const server = await serveMetrics(apart.deps, { host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.address() as { port: number };
      const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await scraped.text()).toContain('flags_flag_set_version');
      expect((await fetch(`http://127.0.0.1:${port}/v1/flags`)).status).toBe(404);
      expect((await apart.request('GET', '/metrics')).status).toBe(404);
    } finally {
      server.close();
      await apart.close();
    }
  });
});
