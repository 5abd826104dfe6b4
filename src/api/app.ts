import Router from '@koa/router';
import Koa from 'koa';
import { z } from 'zod';
import { accessLog, type AccessLogOptions } from './access-log.ts';
import type { ApiDependencies } from './dependencies.ts';
import { errorMiddleware } from './error-middleware.ts';
import { ofrepCors, type CorsOrigins } from './browser-evaluation.ts';
import { authConfigRoutes } from './auth-config-routes.ts';
import { changeRoutes } from './change-routes.ts';
import { consoleRoutes } from './console-routes.ts';
import { evaluationFastPath } from './evaluation-fast-path.ts';
import { evaluationRoutes } from './evaluation-routes.ts';
import { eventRoutes } from './event-routes.ts';
import { exposureRoutes } from './exposure-routes.ts';
import { healthRoutes } from './health-routes.ts';
import { jsonBody } from './json-body.ts';
import { killswitchRoutes } from './killswitch-routes.ts';
import { lifecycleRoutes } from './lifecycle-routes.ts';
import { managementRoutes } from './management-routes.ts';
import { meRoutes } from './me-routes.ts';
import { metricsRoutes } from './metrics-routes.ts';
import { OfrepEventStreams, ofrepEventStreamRoutes } from './ofrep-event-streams.ts';
import { ofrepErrors, ofrepRoutes } from './ofrep-routes.ts';
import { openFeatureManifestRoutes } from './openfeature-manifest-routes.ts';
import { requestId } from './request-id.ts';
import { rolloutRoutes } from './rollout-routes.ts';
import { scheduledChangeRoutes } from './scheduled-change-routes.ts';
import { openApiDocument, RouteRegistry } from './route.ts';
import { securityHeaders } from './security-headers.ts';
import { trackingRoutes } from './tracking-routes.ts';
import { unmatchedRoute } from './unmatched-route.ts';
import { webhookRoutes } from './webhook-routes.ts';

export type { ApiDependencies };

/** How the app meets HTTP at its edge; everything has a default. */
export interface AppOptions {
  /** Send Strict-Transport-Security with this max-age (only behind TLS). */
  hstsMaxAgeSeconds?: number | undefined;
  accessLog?: AccessLogOptions;
  /** /metrics is served on a port of its own (see serveMetrics), so the API port does not serve it. */
  metricsOnOwnPort?: boolean;
  /** Origins whose pages may read OFREP answers (FLAGS_OFREP_CORS_ORIGINS); every origin when absent. */
  ofrepCorsOrigins?: CorsOrigins | undefined;
}

/** Builds the Koa application from its dependencies; the caller owns every pool and client passed in. */
export function createApp(deps: ApiDependencies, options: AppOptions = {}): Koa {
  const app = new Koa();
  app.proxy = true;
  app.use(requestId());
  app.use(securityHeaders({ hstsMaxAgeSeconds: options.hstsMaxAgeSeconds }));
  app.use(accessLog(deps.log, options.accessLog ?? { level: 'info', evaluationLevel: 'debug' }));
  app.use(deps.metrics.http.middleware());
  app.use(errorMiddleware(deps.log, deps.databaseStatus));
  app.use(ofrepCors(options.ofrepCorsOrigins ?? '*'));
  app.use(ofrepErrors);
  app.use(jsonBody({ maxBytes: deps.maxBodyBytes }));

  const registry = new RouteRegistry(deps.authenticator);
  const service = new Router();
  let document: Record<string, unknown> | undefined;
  registry.add(service, {
    method: 'get', operationId: 'getOpenApiDocument', path: '/openapi.json', tag: 'service',
    summary: 'This OpenAPI 3.1 document.',
    responses: { 200: { description: 'The document.', schema: z.record(z.string(), z.unknown()) } },
    async handler(ctx) {
      document ??= openApiDocument(registry, { title: 'Feature-flag service', version: '1' });
      ctx.body = document;
    },
  });

  const ofrepStreams = new OfrepEventStreams({ flagSet: deps.flagSet, tokens: deps.tokens, limits: deps.outboxTail });
  const routers = [
    service,
    healthRoutes(deps, registry),
    evaluationRoutes(deps, registry),
    ofrepRoutes(deps, registry, ofrepStreams),
    ofrepEventStreamRoutes(ofrepStreams, registry),
    openFeatureManifestRoutes(deps, registry),
    exposureRoutes(deps, registry),
    trackingRoutes(deps, registry),
    managementRoutes(deps, registry),
    eventRoutes(deps, registry),
    webhookRoutes(deps, registry),
    rolloutRoutes(deps, registry),
    scheduledChangeRoutes(deps, registry),
    lifecycleRoutes(deps, registry),
    changeRoutes(deps, registry),
    killswitchRoutes(deps, registry),
    meRoutes(deps, registry),
    authConfigRoutes(deps, registry),
    consoleRoutes({ tokenEndpoint: () => (deps.identityProvider?.clients.consoleClientId ? deps.identityProvider.knownEndpoints()?.tokenEndpoint : undefined) }),
    ...(options.metricsOnOwnPort ? [] : [metricsRoutes(deps, registry)]),
  ];
  app.use(evaluationFastPath(registry));
  for (const router of routers) app.use(router.routes());
  app.use(unmatchedRoute(routers));
  return app;
}
