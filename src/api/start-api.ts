import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ensureAdminToken } from '../data/tokens.ts';
import { createApp } from './app.ts';
import { openApiDependencies, type ApiDependencyOptions } from './open-dependencies.ts';

export interface RunningApi {
  url: string;
  stop(): Promise<void>;
}

/** Composition root of an API process: opens its dependencies, makes sure the admin token works, serves HTTP. */
export async function startApi(options: ApiDependencyOptions & { host: string; port: number; adminToken: string; reusePort?: boolean }): Promise<RunningApi> {
  const { deps, close } = await openApiDependencies(options);
  try {
    await ensureAdminToken(deps.db, options.adminToken);
  } catch (error) {
    await close();
    throw error;
  }
  const app = createApp(deps);
  // reusePort lets several API processes share one port, the kernel spreading connections over them.
  const server = app.listen({ port: options.port, host: options.host, reusePort: options.reusePort ?? false });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await close();
    },
  };
}
