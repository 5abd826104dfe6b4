// `npm run bench:ofrep-bulk`: what the OFREP bulk answer's event streams add to a cached answer, in
// one run. A repeated bulk request is answered from a cache of the serialised flags (shared by every
// token); the `eventStreams` entry names the token's own ticket, so it is appended per request. This
// times turning the answer into the bytes sent (what Koa does with a string body): without the
// append (before), with it on every request, and as the route does it (kept with the cached answer
// for the last token that asked), for 10,000 flags and for 50.
import { bench, do_not_optimize, run, summary } from 'mitata';
import { OfrepEventStreams, ofrepBulkEnvelope } from '../src/api/ofrep-event-streams.ts';
import { toOfrep } from '../src/api/ofrep-routes.ts';
import { compileFlagSet, evaluateAll } from '@flagship/engine';
import { benchContexts, benchFlags, benchSegments } from './flag-mix.ts';
import { toPrincipal } from '../src/api/principal.ts';

const streams = [{ type: 'sse' as const, endpoint: { requestUri: '/ofrep/v1/event-stream?ticket=tok_AbCdEfGhIjKl.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG' } }];
const token = { id: 'tok_AbCdEfGhIjKl', name: 'svc', owner: { id: 'svc', name: 'svc', kind: 'service' as const }, tokenHash: '0'.repeat(64), scopes: ['feature_flag:evaluate' as const], projectIds: null };
const principal = toPrincipal(token);
const hub = new OfrepEventStreams({ flagSet: { onChange: () => () => true, version: 1 }, tokens: { byId: () => ({ principal, tokenHash: token.tokenHash }) }, limits: { lease: () => ({ release() {} }) } });
for (const count of [10_000, 50]) {
  const set = compileFlagSet({ flags: benchFlags(count).map((flag) => ({ ...flag, state: 'active' as const, version: 1 })), segments: benchSegments() });
  const json = JSON.stringify({ flags: evaluateAll(set, benchContexts(1)[0]!).map(toOfrep), metadata: { flagSetId: 'flagship' } });
  summary(() => {
    bench(`${count} flags (${Math.round(json.length / 1024)} KiB): cached JSON as it is`, () => do_not_optimize(Buffer.from(json)));
    bench(`${count} flags: cached JSON with the token's eventStreams appended each time`, () => do_not_optimize(Buffer.from(ofrepBulkEnvelope(json, streams))));
    const answer = { json };
    bench(`${count} flags: the route's body (appended once per answer and token, then kept)`, () => do_not_optimize(Buffer.from(hub.bulkBody(answer, principal))));
  });
}
await run({ format: 'mitata' });
