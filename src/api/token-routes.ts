import Router from '@koa/router';
import { z } from 'zod';
import { createToken, listTokens, revokeToken, SCOPES } from '../data/tokens.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

const tokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  projectIds: z.array(z.string()).nullable(),
  createdAt: z.string(),
  createdBy: z.string(),
  revokedAt: z.string().nullable(),
});

/** API tokens: the secret is returned once at creation; only its hash is stored. */
export function tokenRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'tokens';

  registry.add(router, {
    method: 'post', path: '/v1/tokens', tag, scope: 'feature_flag:admin',
    summary: 'Create a token; the response carries its secret, shown this once.',
    body: z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/).describe('Unique among live tokens; recorded as the actor of every change made with it.'),
      scopes: z.array(z.enum(SCOPES)).min(1),
      projectIds: z.array(z.string().min(1).max(128)).min(1).max(1000).nullable().optional().describe('Limits evaluation to these context.projectId values.'),
    }),
    responses: { 201: { description: 'The token and its secret.', schema: tokenSchema.extend({ token: z.string() }) } },
    async handler(ctx, { body, principal }) {
      const { token, secret } = await createToken(deps.db, body, principal.name);
      ctx.status = 201;
      ctx.body = { ...token, token: secret };
    },
  });

  registry.add(router, {
    method: 'get', path: '/v1/tokens', tag, scope: 'feature_flag:admin',
    summary: 'List tokens (never their secrets).',
    query: z.object({ includeRevoked: z.enum(['true', 'false']).default('false') }),
    responses: { 200: { description: 'The tokens.', schema: z.object({ items: z.array(tokenSchema) }) } },
    async handler(ctx, { query }) {
      ctx.body = { items: await listTokens(deps.db, { includeRevoked: query.includeRevoked === 'true' }) };
    },
  });

  registry.add(router, {
    method: 'delete', path: '/v1/tokens/:id', tag, scope: 'feature_flag:admin',
    summary: 'Revoke a token: refused by this process at once, by every other within five seconds.',
    params: z.object({ id: z.string().min(1).max(64) }),
    responses: { 200: { description: 'The revoked token.', schema: tokenSchema } },
    async handler(ctx, { params, principal }) {
      const token = await revokeToken(deps.db, params.id, principal.name);
      deps.authenticator.forget(token.id);
      ctx.body = token;
    },
  });

  return router;
}
