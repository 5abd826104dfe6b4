import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppOptions } from '../../src/api/app.ts';
import { answerMalformedRequests } from '../../src/api/client-errors.ts';
import type { ApiDependencies } from '../../src/api/dependencies.ts';
import { openApiDependencies, type ApiDependencyOptions } from '../../src/api/open-dependencies.ts';
import type { OutboundPolicy } from '../../src/outbound/outbound-policy.ts';
import { ensureAdminToken, generateTokenSecret } from '../../src/data/tokens.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { testLog } from './logger.ts';
import { publicOnlyPolicy } from './outbound.ts';

export interface TestApi {
  baseUrl: string;
  deps: ApiDependencies;
  adminToken: string;
  db: TestDatabase;
  /** fetch against the API with the admin token (or `token`), JSON in and out. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read response bodies field by field
  request(method: string, path: string, options?: { body?: unknown; token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/**
 * A real API over real HTTP on a fresh database (cloned from the migrated template), with the
 * shared test Temporal server behind it. `overrides` replace dependencies, e.g. a smaller body limit,
 * or `outbound: loopbackOutbound()` for a test whose gate or webhook URLs name 127.0.0.1 (the default
 * policy is production's: public addresses only). `identityProvider` makes it accept that provider's
 * JWTs (whose keys a loopback provider serves under `outboundPolicy: loopbackPolicy`).
 */
export async function startTestApi(
  overrides: Partial<ApiDependencies> = {},
  options: { db?: TestDatabase; adminToken?: string; app?: AppOptions; identityProvider?: ApiDependencyOptions['identityProvider']; outboundPolicy?: OutboundPolicy } = {},
): Promise<TestApi> {
  const db = options.db ?? (await createTestDatabase());
  // A second API on the same database shares the first one's admin token (a new one would replace it).
  const adminToken = options.adminToken ?? generateTokenSecret();
  await ensureAdminToken(db.pool, adminToken);
  const opened = await openApiDependencies({
    databaseUrl: db.url,
    db: db.pool,
    temporalAddress: requireEnv(ENV.temporalAddress),
    temporalNamespace: requireEnv(ENV.temporalNamespace),
    taskQueue: 'flags-test',
    dataDir: requireEnv(ENV.scratchDir),
    log: testLog,
    outboundPolicy: options.outboundPolicy ?? publicOnlyPolicy,
    identityProvider: options.identityProvider,
  });
  const deps: ApiDependencies = { ...opened.deps, ...overrides };
  const app = createApp(deps, options.app);
  const server: Server = app.listen(0, '127.0.0.1');
  answerMalformedRequests(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    deps,
    adminToken,
    db,
    async request(method, path, requestOptions = {}) {
      const token = requestOptions.token === undefined ? adminToken : requestOptions.token;
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          ...(requestOptions.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...requestOptions.headers,
        },
        ...(requestOptions.body === undefined ? {} : { body: typeof requestOptions.body === 'string' ? requestOptions.body : JSON.stringify(requestOptions.body) }),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // Not JSON (an SSE stream, a plain text body): the raw text is the body.
      }
      return { status: response.status, body, headers: response.headers };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await opened.close();
      if (!options.db) await db.drop();
    },
  };
}
