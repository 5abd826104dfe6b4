import Router from '@koa/router';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

// Placeholder while the event stream is being built (GET /v1/events).
export function eventRoutes(_deps: ApiDependencies, _registry: RouteRegistry): Router {
  return new Router();
}
