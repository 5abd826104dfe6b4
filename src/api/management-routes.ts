import Router from '@koa/router';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

export function managementRoutes(_deps: ApiDependencies, _registry: RouteRegistry): Router {
  return new Router();
}
