import Router from '@koa/router';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

// Placeholder while issue 7 is being built.
export function killswitchRoutes(_deps: ApiDependencies, _registry: RouteRegistry): Router {
  return new Router();
}
