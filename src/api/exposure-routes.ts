import Router from '@koa/router';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

// Placeholder while exposure events are being built (POST /v1/exposures).
export function exposureRoutes(_deps: ApiDependencies, _registry: RouteRegistry): Router {
  return new Router();
}
