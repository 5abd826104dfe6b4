import Router from '@koa/router';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

// Placeholder while webhooks are being built (/v1/webhooks).
export function webhookRoutes(_deps: ApiDependencies, _registry: RouteRegistry): Router {
  return new Router();
}
