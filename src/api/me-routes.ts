import Router from '@koa/router';
import { z } from 'zod';
import { OWNER_KINDS } from '../data/actor.ts';
import { SCOPES } from '../data/tokens.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

/**
 * Who the caller is: what a client (the console) shows after sign-in and uses to offer only the
 * actions the token may take. Any live token may ask; the secret is never echoed.
 */
export function meRoutes(_deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  registry.add(router, {
    method: 'get', operationId: 'getMe', path: '/v1/me', tag: 'tokens', scope: SCOPES,
    summary: 'The calling token: its id and name, its owner (the actor recorded for its changes, whom approvals compare), scopes and project limit.',
    responses: {
      200: {
        description: 'The caller.',
        schema: z.object({
          tokenId: z.string(),
          name: z.string(),
          owner: z.object({ id: z.string(), name: z.string(), kind: z.enum(OWNER_KINDS) }),
          scopes: z.array(z.enum(SCOPES)),
          projectIds: z.array(z.string()).nullable(),
        }),
      },
    },
    async handler(ctx, { principal }) {
      ctx.body = {
        tokenId: principal.tokenId,
        name: principal.name,
        owner: { id: principal.actor.id, name: principal.actor.name, kind: principal.ownerKind },
        scopes: [...principal.scopes],
        projectIds: principal.projectIds,
      };
    },
  });
  return router;
}
