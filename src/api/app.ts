import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import type { ApiDependencies } from './dependencies.ts';
import { errorMiddleware } from './error-middleware.ts';
import { changeRoutes } from './change-routes.ts';
import { evaluationRoutes } from './evaluation-routes.ts';
import { eventRoutes } from './event-routes.ts';
import { exposureRoutes } from './exposure-routes.ts';
import { checkHealth } from './health.ts';
import { killswitchRoutes } from './killswitch-routes.ts';
import { managementRoutes } from './management-routes.ts';
import { ofrepErrors, ofrepRoutes } from './ofrep-routes.ts';
import { rolloutRoutes } from './rollout-routes.ts';
import { openApiDocument, RouteRegistry } from './route.ts';
import { webhookRoutes } from './webhook-routes.ts';

export type { ApiDependencies };

/** Builds the Koa application from its dependencies; the caller owns every pool and client passed in. */
export function createApp(deps: ApiDependencies): Koa {
  const app = new Koa();
  app.proxy = true;
  app.use(errorMiddleware(deps.log));
  app.use(ofrepErrors);
  app.use(
    bodyParser({
      jsonLimit: deps.maxBodyBytes ?? 1_048_576,
      enableTypes: ['json'],
      // The parser merges this into its defaults index by index, so application/json comes first.
      extendTypes: { json: ['application/json', 'application/merge-patch+json'] },
      encoding: 'utf-8',
    }),
  );

  const health = new Router();
  health.get('/health', async (ctx) => {
    const state = await checkHealth(deps.health);
    ctx.status = state.status === 'ok' ? 200 : 503;
    ctx.body = state;
  });

  const registry = new RouteRegistry(deps.authenticator);
  const routers = [health, evaluationRoutes(deps, registry), ofrepRoutes(deps, registry), exposureRoutes(deps, registry), managementRoutes(deps, registry), eventRoutes(deps, registry), webhookRoutes(deps, registry), rolloutRoutes(deps, registry), changeRoutes(deps, registry), killswitchRoutes(deps, registry)];
  let document: Record<string, unknown> | undefined;
  health.get('/openapi.json', (ctx) => {
    document ??= openApiDocument(registry, { title: 'Feature-flag service', version: '1' });
    ctx.body = document;
  });

  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
