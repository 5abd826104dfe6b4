import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.ts';
import { isDatabaseUnavailable } from '../data/database-errors.ts';
import { ensureAdminToken } from '../data/tokens.ts';
import { createApp, type AppOptions } from './app.ts';
import { answerMalformedRequests } from './client-errors.ts';
import { serveMetrics } from './metrics-routes.ts';
import { openApiDependencies, type ApiDependencyOptions } from './open-dependencies.ts';

export interface RunningApi {
  url: string;
  stop(): Promise<void>;
}

/** The edge settings of an API process, from its configuration. */
export function edgeOptions(config: Pick<Config, 'hstsMaxAgeSeconds' | 'metricsPort' | 'accessLogLevel' | 'accessLogEvaluationLevel' | 'ofrepCorsOrigins'>) {
  return {
    hstsMaxAgeSeconds: config.hstsMaxAgeSeconds,
    ofrepCorsOrigins: config.ofrepCorsOrigins,
    metricsPort: config.metricsPort,
    accessLog: { level: config.accessLogLevel, evaluationLevel: config.accessLogEvaluationLevel },
  };
}

/**
 * Composition root of an API process: opens its dependencies, makes sure the admin token works, serves HTTP.
 * While PostgreSQL cannot be reached, it serves from the last published snapshot, and the database's
 * share of starting (`prepareDatabase`, then the admin token) is retried every `retryMs` until it answers.
 */
export async function startApi(
  options: ApiDependencyOptions & {
    host: string;
    port: number;
    adminToken: string;
    reusePort?: boolean;
    edge?: Omit<AppOptions, 'metricsOnOwnPort'> & { metricsPort?: number | undefined };
    prepareDatabase?: () => Promise<unknown>;
    retryMs?: number;
  },
): Promise<RunningApi> {
  // Migrations come first when PostgreSQL answers: the flag set is read from the tables they make.
  let prepared = false;
  try {
    await options.prepareDatabase?.();
    prepared = true;
  } catch (error) {
    if (!isDatabaseUnavailable(error)) throw error;
  }
  const { deps, close } = await openApiDependencies(options);
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const prepare = async (): Promise<void> => {
    if (!prepared) {
      await options.prepareDatabase?.();
      prepared = true;
    }
    await ensureAdminToken(deps.db, options.adminToken);
    // The admin token works here before the first request, not only after the next catch-up.
    await deps.tokens.refresh();
  };
  const prepareWhenReachable = async (): Promise<void> => {
    try {
      await prepare();
    } catch (error) {
      if (!isDatabaseUnavailable(error) || stopped) {
        options.log.error({ err: error }, 'preparing the database failed');
        return;
      }
      retryTimer = setTimeout(() => void prepareWhenReachable(), options.retryMs ?? 1_000);
      retryTimer.unref();
    }
  };
  try {
    await prepare();
  } catch (error) {
    if (!isDatabaseUnavailable(error)) {
      await close();
      throw error;
    }
    options.log.warn('PostgreSQL cannot be reached: the admin token (and any migration) will be applied once it answers');
    retryTimer = setTimeout(() => void prepareWhenReachable(), options.retryMs ?? 1_000);
    retryTimer.unref();
  }
  const { metricsPort, ...edge } = options.edge ?? {};
  const app = createApp(deps, { ...edge, metricsOnOwnPort: metricsPort !== undefined });
  // reusePort lets several API processes share one port, the kernel spreading connections over them.
  const server = app.listen({ port: options.port, host: options.host, reusePort: options.reusePort ?? false });
  answerMalformedRequests(server);
  await once(server, 'listening');
  const metricsServer = metricsPort === undefined ? undefined : await serveMetrics(deps, { host: options.host, port: metricsPort, reusePort: options.reusePort ?? false });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      metricsServer?.closeAllConnections();
      metricsServer?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await close();
    },
  };
}
