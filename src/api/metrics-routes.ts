import { createServer, type Server } from 'node:http';
import Router from '@koa/router';
import { register, Registry } from 'prom-client';
import { z } from 'zod';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';
import { SECURITY_HEADERS } from './security-headers.ts';

/** The process's metrics in Prometheus's text format, its gauges brought up to date first. */
async function renderMetrics(deps: Pick<ApiDependencies, 'metrics' | 'flagSet' | 'snapshots' | 'databaseStatus' | 'outboxTail'>): Promise<{ contentType: string; text: string }> {
  deps.metrics.flags.set({ state: 'active' }, deps.flagSet.current.size);
  deps.metrics.flagSetVersion.set(deps.flagSet.version);
  deps.metrics.flagSetStale.set(deps.flagSet.stale ? 1 : 0);
  if (deps.flagSet.confirmedAt > 0) deps.metrics.flagSetSecondsSinceConfirmed.set((Date.now() - deps.flagSet.confirmedAt) / 1000);
  deps.metrics.databaseUp.set(deps.databaseStatus.reachable ? 1 : 0);
  deps.metrics.eventStreams.set(deps.outboxTail.streams);
  // The tail counts its reads itself; the counter shows its count.
  deps.metrics.eventStreamOutboxReads.reset();
  deps.metrics.eventStreamOutboxReads.inc(deps.outboxTail.databaseReads);
  const age = deps.snapshots.ageSeconds();
  if (age !== undefined) deps.metrics.snapshotAgeSeconds.set(age);
  // The process-wide default registry carries what the worker's activities count (rollout steps)
  // when the worker shares this process.
  const merged = Registry.merge([deps.metrics.registry, register]);
  return { contentType: merged.contentType, text: await merged.metrics() };
}

/**
 * `GET /metrics` on the API port, behind `feature_flag:metrics` (a scope of its own, so a Prometheus
 * scraper holds a token that can do nothing else; admin tokens have it too). Not registered when the
 * metrics are served on a port of their own (`FLAGS_METRICS_PORT`).
 */
export function metricsRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  registry.add(router, {
    method: 'get', operationId: 'getMetrics', path: '/metrics', tag: 'metrics', scope: 'feature_flag:metrics',
    summary: 'Prometheus metrics of this API process (text exposition format).',
    responses: { 200: { description: 'The metrics.', contentType: 'text/plain', schema: z.string() } },
    async handler(ctx) {
      const { contentType, text } = await renderMetrics(deps);
      ctx.type = contentType;
      ctx.body = text;
    },
  });
  return router;
}

/**
 * `GET /metrics` without a token on a port of its own, for deployments that keep the scrape on an
 * internal interface instead of handing Prometheus a token. Everything else there is 404.
 */
export function serveMetrics(deps: Pick<ApiDependencies, 'metrics' | 'flagSet' | 'snapshots' | 'databaseStatus' | 'outboxTail' | 'log'>, options: { host: string; port: number; reusePort?: boolean }): Promise<Server> {
  const server = createServer((request, response) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ error: { code: 'not_found', message: 'only GET /metrics is served on this port' } }));
      return;
    }
    renderMetrics(deps).then(
      ({ contentType, text }) => response.writeHead(200, { 'content-type': contentType }).end(text),
      (error: unknown) => {
        deps.log.error({ err: error }, 'rendering metrics failed');
        response.writeHead(500, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ error: { code: 'internal', message: 'internal error' } }));
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port, reusePort: options.reusePort ?? false }, () => resolve(server));
  });
}
