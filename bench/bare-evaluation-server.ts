// The bare baseline of `npm run bench:http`: the same evaluation as ours — the same flag mix compiled
// by our engine, the same request bodies, the same answers (our result, or its OFREP form) — served by
// node:http with nothing else: no framework, no authentication, no checks, no metrics, no headers
// beyond the two a JSON answer needs. What Node itself can serve on this machine bounds what the
// service can; the benchmark prints ours as a share of it. One process per core, sharing the port
// (SO_REUSEPORT), as ours runs.
// With `koa`, the same evaluation runs as the only middleware of a Koa application and answers as
// our evaluation routes do (the JSON text as the body, the content type set as a constant): Koa's
// own cost per request, the floor of any service that stays on Koa, between the bare server and ours.
// Usage: node bench/bare-evaluation-server.ts <flag count> <port> [koa]
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Koa from 'koa';
import { compileFlagSet, evaluate, type EvaluationContext } from '@flagship/engine';
import { toOfrep } from '../src/api/ofrep-routes.ts';
import { benchFlags, benchSegments } from './flag-mix.ts';

const [count, port] = process.argv.slice(2, 4).map(Number);
const framework = process.argv[4];
if (!count || !port || (framework !== undefined && framework !== 'koa')) throw new Error('usage: node bench/bare-evaluation-server.ts <flag count> <port> [koa]');
const set = compileFlagSet({ flags: benchFlags(count).map((flag) => ({ ...flag, state: 'active', version: 1 })), segments: benchSegments(), killswitches: new Set() });

const OFREP_SINGLE = '/ofrep/v1/evaluate/flags/';

function send(response: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  response.end(json);
}

function readBody(request: IncomingMessage, then: (text: string) => void): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => then(Buffer.concat(chunks).toString('utf8')));
}

/** The flag key a request names and the answer for it: our result at `/v1/evaluate`, its OFREP form otherwise. */
function answer(url: string, text: string): { status: number; body: unknown } {
  const body = JSON.parse(text) as { flagKey?: string; context?: EvaluationContext };
  const key = url === '/v1/evaluate' ? body.flagKey : url.startsWith(OFREP_SINGLE) ? decodeURIComponent(url.slice(OFREP_SINGLE.length)) : undefined;
  const result = key === undefined ? undefined : evaluate(set, key, body.context ?? {});
  if (!result) return { status: 404, body: { error: { code: 'not_found', message: 'no such flag or route' } } };
  return { status: 200, body: url === '/v1/evaluate' ? result : toOfrep(result) };
}

function koaCallback() {
  const app = new Koa();
  app.use(async (ctx) => {
    const text = await new Promise<string>((resolve) => readBody(ctx.req, resolve));
    const { status, body } = answer(ctx.url, text);
    ctx.status = status;
    ctx.set('Content-Type', 'application/json; charset=utf-8');
    ctx.body = JSON.stringify(body);
  });
  return app.callback();
}

const server = createServer(framework === 'koa' ? koaCallback() : (request, response) => readBody(request, (text) => {
  const { status, body } = answer(request.url ?? '', text);
  send(response, status, body);
}));
server.listen({ port, host: '127.0.0.1', reusePort: true }, () => process.send?.('listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
