// The bare baseline of `npm run bench:http`: the same evaluation as ours — the same flag mix compiled
// by our engine, the same request bodies, the same answers (our result, or its OFREP form) — served by
// node:http with nothing else: no framework, no authentication, no checks, no metrics, no headers
// beyond the two a JSON answer needs. What Node itself can serve on this machine bounds what the
// service can; the benchmark prints ours as a share of it. One process per core, sharing the port
// (SO_REUSEPORT), as ours runs.
// Usage: node bench/bare-evaluation-server.ts <flag count> <port>
import { createServer, type ServerResponse } from 'node:http';
import { compileFlagSet, evaluate, type EvaluationContext } from '@flagship/engine';
import { toOfrep } from '../src/api/ofrep-routes.ts';
import { benchFlags, benchSegments } from './flag-mix.ts';

const [count, port] = process.argv.slice(2).map(Number);
if (!count || !port) throw new Error('usage: node bench/bare-evaluation-server.ts <flag count> <port>');
const set = compileFlagSet({ flags: benchFlags(count).map((flag) => ({ ...flag, state: 'active', version: 1 })), segments: benchSegments(), killswitches: new Set() });

const OFREP_SINGLE = '/ofrep/v1/evaluate/flags/';

function send(response: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  response.end(json);
}

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { flagKey?: string; context?: EvaluationContext };
    const url = request.url ?? '';
    const key = url === '/v1/evaluate' ? body.flagKey : url.startsWith(OFREP_SINGLE) ? decodeURIComponent(url.slice(OFREP_SINGLE.length)) : undefined;
    const result = key === undefined ? undefined : evaluate(set, key, body.context ?? {});
    if (!result) send(response, 404, { error: { code: 'not_found', message: 'no such flag or route' } });
    else send(response, 200, url === '/v1/evaluate' ? result : toOfrep(result));
  });
});
server.listen({ port, host: '127.0.0.1', reusePort: true }, () => process.send?.('listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
