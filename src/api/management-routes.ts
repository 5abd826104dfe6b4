import Router from '@koa/router';
import { auditRoutes } from './audit-routes.ts';
import type { ApiDependencies } from './dependencies.ts';
import { flagRoutes } from './flag-routes.ts';
import type { RouteRegistry } from './route.ts';
import { segmentRoutes } from './segment-routes.ts';
import { tokenRoutes } from './token-routes.ts';

/** The management API: flags, segments, the audit log and tokens. */
export function managementRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  for (const routes of [flagRoutes, segmentRoutes, auditRoutes, tokenRoutes]) {
    const child = routes(deps, registry);
    router.use(child.routes());
  }
  return router;
}
