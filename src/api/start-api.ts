import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Connection } from '@temporalio/client';
import { createDatabasePool } from '../data/pool.ts';
import { ensureAdminToken } from '../data/tokens.ts';
import type { Logger } from '../log.ts';
import { createApp } from './app.ts';
import { createAuthenticator } from './auth.ts';

export interface RunningApi {
  url: string;
  stop(): Promise<void>;
}

/** Composition root of an API process: opens the pool and the Temporal connection, serves HTTP. */
export async function startApi(options: {
  databaseUrl: string;
  temporalAddress: string;
  temporalNamespace: string;
  host: string;
  port: number;
  adminToken: string;
  log: Logger;
}): Promise<RunningApi> {
  const db = await createDatabasePool(options.databaseUrl);
  await ensureAdminToken(db, options.adminToken);
  const temporal = await Connection.connect({ address: options.temporalAddress });
  const app = createApp({
    log: options.log,
    db,
    authenticator: createAuthenticator(db),
    health: { db, temporal, namespace: options.temporalNamespace, snapshot: () => ({}) },
  });
  const server = app.listen(options.port, options.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await temporal.close();
      await db.end();
    },
  };
}
