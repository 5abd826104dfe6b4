// `npm run bench:auth`: what authenticating a request costs an evaluation, in one run. Every API
// process holds the live tokens in memory; a header seen before is one map lookup, a new one is
// parsed and hashed (SHA-256) once and looked up by its hash, which is what every request paid
// before the repeat cache (on top of a database query every five seconds per token).
import { bench, do_not_optimize, run } from 'mitata';
import { createAuthenticator } from '../src/api/auth.ts';
import { generateTokenSecret, hashToken, SCOPES } from '../src/data/tokens.ts';
import { toPrincipal } from '../src/api/principal.ts';

const secrets = Array.from({ length: 100 }, () => generateTokenSecret());
const byHash = new Map(
  secrets.map((secret, index) => {
    const token = { id: `tok_${index}`, name: `svc-${index}`, owner: { id: `svc-${index}`, name: `svc-${index}`, kind: 'service' as const }, tokenHash: hashToken(secret), scopes: [...SCOPES], projectIds: null };
    return [token.tokenHash, toPrincipal(token)];
  }),
);
const tokens = { lookup: (hash: string) => byHash.get(hash), changeCount: 0 };
const headers = secrets.map((secret) => `Bearer ${secret}`);
const repeats = createAuthenticator(tokens);
// A cache too small for any entry: every call parses, hashes and looks up.
const noRepeats = createAuthenticator(tokens, { cacheBytes: 1 });
let index = 0;

bench('header seen before: one map lookup', () => do_not_optimize(repeats.authenticate(headers[index++ % headers.length])));
bench('new header: parse, SHA-256, lookup by hash', () => do_not_optimize(noRepeats.authenticate(headers[index++ % headers.length])));
await run({ format: 'mitata' });
