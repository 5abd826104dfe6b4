import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from '../log.ts';
import { errorMiddleware } from './error-middleware.ts';
import { checkHealth, type HealthDependencies } from './health.ts';

export interface ApiDependencies {
  log: Logger;
  health: HealthDependencies;
  /** Largest accepted JSON body. */
  maxBodyBytes?: number;
}

/** Builds the Koa application from its dependencies; the caller owns every pool and client passed in. */
export function createApp(deps: ApiDependencies): Koa {
  const app = new Koa();
  app.proxy = true;
  app.use(errorMiddleware(deps.log));
  app.use(bodyParser({ jsonLimit: deps.maxBodyBytes ?? 1_048_576, enableTypes: ['json'], encoding: 'utf-8' }));

  const router = new Router();
  router.get('/health', async (ctx) => {
    const health = await checkHealth(deps.health);
    ctx.status = health.status === 'ok' ? 200 : 503;
    ctx.body = health;
  });

  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
