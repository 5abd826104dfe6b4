// `npm run bench:edge`: what the API's edge adds to every request, measured on the real middleware
// with an evaluation request's body: reading the JSON body (strict UTF-8, depth and text checks)
// against parsing it alone, and the request id (with its log context), the security headers and the
// access log (its evaluation line below the log level, as by default) against a bare step.
// On a shared machine `npm run bench:http` cannot separate a microsecond from its neighbours' noise.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import Koa, { type Context } from 'koa';
import { bench, do_not_optimize, run, summary } from 'mitata';
import { accessLog } from '../src/api/access-log.ts';
import { jsonBody } from '../src/api/json-body.ts';
import { requestId } from '../src/api/request-id.ts';
import { securityHeaders } from '../src/api/security-headers.ts';
import { EVALUATION_TAGS, type Operation } from '../src/api/route.ts';
import { createLogger } from '../src/log.ts';
import { benchContexts } from './flag-mix.ts';

const app = new Koa();
const log = createLogger('info', 'bench');
const bodies = benchContexts(1_000).map((context, index) => Buffer.from(JSON.stringify({ flagKey: `flag-${index}`, context })));
const evaluation = { operationId: 'evaluate', tag: [...EVALUATION_TAGS][0]! } as Operation;
let index = 0;

/** A Koa context over a real request and response object, its body ready to be read. */
function context(): Context {
  const body = bodies[index++ % bodies.length]!;
  const request = new IncomingMessage(new Socket());
  request.method = 'POST';
  request.url = '/v1/evaluate';
  request.headers = { 'content-type': 'application/json', 'content-length': String(body.byteLength), 'x-request-id': 'bench' };
  request.push(body);
  request.push(null);
  return app.createContext(request, new ServerResponse(request));
}

const readBody = jsonBody();
const withRequestId = requestId();
const withHeaders = securityHeaders();
const withAccessLog = accessLog(log, { level: 'info', evaluationLevel: 'debug' });
const answer = async (ctx: Context) => {
  ctx.state.operation = evaluation;
  ctx.body = { value: true };
};

// The request objects are made outside the timed part (mitata's computed parameters).
summary(() => {
  bench('body: read and JSON.parse, unchecked (as before)', function* () {
    yield {
      [0]: context,
      async bench(ctx: Context) {
        const chunks: Buffer[] = [];
        for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
        do_not_optimize(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      },
    };
  });
  bench('body: jsonBody (UTF-8, depth, text checks)', function* () {
    yield {
      [0]: context,
      async bench(ctx: Context) {
        await readBody(ctx, async () => do_not_optimize((ctx.request as { body?: unknown }).body));
      },
    };
  });
});

summary(() => {
  bench('a request without the edge', function* () {
    yield {
      [0]: context,
      async bench(ctx: Context) {
        await answer(ctx);
      },
    };
  });
  bench('request id + security headers + access log', function* () {
    yield {
      [0]: context,
      async bench(ctx: Context) {
        await withRequestId(ctx, () => withHeaders(ctx, () => withAccessLog(ctx, () => answer(ctx))));
      },
    };
  });
});

await run();
