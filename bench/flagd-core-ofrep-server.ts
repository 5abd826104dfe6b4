// The flagd-core (JS) OFREP server that `npm run bench:http` measures beside ours. It is NOT flagd,
// the Go daemon (the Go module proxy refuses every flagd module, and Debian has no package): it is
// flagd's own JavaScript evaluator, @openfeature/flagd-core, the engine of OpenFeature's in-process
// flagd provider, which reads the same flag-definition format with the same targeting (JSONLogic,
// fractional, sem_ver, starts_with/ends_with), behind a plain node:http server speaking OFREP's
// single and bulk evaluation. One process per core, sharing the port (SO_REUSEPORT), as ours runs.
// Usage: node bench/flagd-core-ofrep-server.ts <flags.json> <port>
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { FlagValueType } from '@openfeature/core';
import { FlagdCore } from '@openfeature/flagd-core';

const [file, port] = process.argv.slice(2);
if (!file || !port) throw new Error('usage: node bench/flagd-core-ofrep-server.ts <flags.json> <port>');
const core = new FlagdCore();
core.setConfigurations(readFileSync(file, 'utf8'));

const SINGLE = /^\/ofrep\/v1\/evaluate\/flags\/([^/?]+)$/;

function typeOf(value: unknown): FlagValueType {
  return typeof value === 'boolean' ? 'boolean' : typeof value === 'string' ? 'string' : typeof value === 'number' ? 'number' : 'object';
}

function evaluate(key: string, context: Record<string, unknown>): [number, Record<string, unknown>] {
  const flag = core.getFlag(key);
  if (!flag) return [404, { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag ${key} not found` }];
  const fallback = flag.variants.get(flag.defaultVariant ?? '');
  try {
    const result = core.resolve(typeOf(fallback), key, fallback as never, context as never);
    return [200, { key, value: result.value, reason: result.reason, variant: result.variant, metadata: result.flagMetadata }];
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'GENERAL';
    return [code === 'FLAG_NOT_FOUND' ? 404 : 400, { key, errorCode: code, errorDetails: (error as Error).message }];
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  response.end(json);
}

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    let context: Record<string, unknown>;
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      context = text ? ((JSON.parse(text) as { context?: Record<string, unknown> }).context ?? {}) : {};
    } catch {
      send(response, 400, { key: '', errorCode: 'PARSE_ERROR', errorDetails: 'the body is not JSON' });
      return;
    }
    const single = request.method === 'POST' ? SINGLE.exec(request.url ?? '') : null;
    if (single) {
      send(response, ...evaluate(decodeURIComponent(single[1]!), context));
    } else if (request.method === 'POST' && request.url === '/ofrep/v1/evaluate/flags') {
      send(response, 200, { flags: [...core.getFlags().keys()].map((key) => evaluate(key, context)).filter(([status]) => status === 200).map(([, body]) => body) });
    } else {
      send(response, 404, { errorDetails: 'not found' });
    }
  });
});
server.listen({ port: Number(port), host: '127.0.0.1', reusePort: true }, () => process.send?.('listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
