import Router from '@koa/router';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

// Placeholder while rollouts are being built (/v1/flags/:key/rollouts, /v1/flags/:key/rollout).
export function rolloutRoutes(_deps: ApiDependencies, _registry: RouteRegistry): Router {
  return new Router();
}
