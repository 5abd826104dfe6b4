import Router from '@koa/router';
import { z } from 'zod';
import { OWNER_KINDS } from '../data/actor.ts';
import { createToken, hashToken, listTokens, revokeToken, SCOPES } from '../data/tokens.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

const ownerSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(OWNER_KINDS),
});

const tokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  owner: ownerSchema.describe('The person or service the token belongs to: the actor of every change made with it.'),
  scopes: z.array(z.enum(SCOPES)),
  projectIds: z.array(z.string()).nullable(),
  signedContext: z.boolean().describe('A front-end\'s token whose contexts must carry targetingKeySignature.'),
  builtIn: z.boolean().describe('The built-in admin token, made at start from FLAGS_ADMIN_TOKEN.'),
  createdAt: z.string(),
  createdBy: z.string(),
  revokedAt: z.string().nullable(),
});

/** API tokens: the secret is returned once at creation; only its hash is stored. */
export function tokenRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'tokens';

  registry.add(router, {
    method: 'post', operationId: 'createToken', path: '/v1/tokens', tag, scope: 'feature_flag:admin',
    summary: 'Create a token for a person or a service; the response carries its secret, shown this once. Only scopes and projects within the creating token\'s own can be handed on.',
    body: z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/).describe('Never used by another token, not even a revoked one, in any case; "admin" is the built-in token\'s.'),
      owner: z.strictObject({
        id: z.string().regex(/^[^\s\x00-\x1f\x7f]{1,200}$/).describe('Who the token belongs to, stable and unique: an e-mail address, the identity provider\'s subject, a service\'s name. Recorded as the actor of every change made with the token; two tokens of one owner are one person to approvals.'),
        name: z.string().min(1).max(200).regex(/^[^\x00-\x1f\x7f]+$/).optional().describe('A readable name (default: the id).'),
        kind: z.enum(OWNER_KINDS).default('person').describe('Only tokens of a person may approve changes.'),
      }),
      scopes: z.array(z.enum(SCOPES)).min(1),
      projectIds: z.array(z.string().min(1).max(128)).min(1).max(1000).nullable().optional().describe('Limits evaluation to these context.projectId values.'),
      signedContext: z.boolean().optional().describe('feature_flag:browser only: every context must carry targetingKeySignature, the hex HMAC-SHA256 of its targetingKey keyed with the contextSigningSecret returned here once.'),
    }).superRefine(refuseUnsafeBrowserToken),
    responses: { 201: { description: 'The token and its secret (and, for signedContext, the secret the customer\'s backend signs contexts with).', schema: tokenSchema.extend({ token: z.string(), contextSigningSecret: z.string().optional() }) } },
    async handler(ctx, { body, principal }) {
      const { token, secret, contextSigningSecret } = await createToken(deps.db, body, { actor: principal.actor, authority: principal });
      deps.tokens.created({
        id: token.id, name: token.name, owner: token.owner, tokenHash: hashToken(secret), scopes: token.scopes, projectIds: token.projectIds,
        signedContext: token.signedContext, ...(contextSigningSecret ? { contextSigningSecret } : {}),
      });
      ctx.status = 201;
      ctx.body = { ...token, token: secret, ...(contextSigningSecret ? { contextSigningSecret } : {}) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'listTokens', path: '/v1/tokens', tag, scope: 'feature_flag:admin',
    summary: 'List tokens (never their secrets).',
    query: z.object({ includeRevoked: z.enum(['true', 'false']).default('false') }),
    responses: { 200: { description: 'The tokens.', schema: z.object({ items: z.array(tokenSchema) }) } },
    async handler(ctx, { query }) {
      ctx.body = { items: await listTokens(deps.db, { includeRevoked: query.includeRevoked === 'true' }) };
    },
  });

  registry.add(router, {
    method: 'delete', operationId: 'revokeToken', path: '/v1/tokens/:id', tag, scope: 'feature_flag:admin',
    summary: 'Revoke a token: refused by this process at once, by every other within a second. A token cannot revoke itself, one beyond its own scopes and projects, or the last admin token without a project limit.',
    params: z.object({ id: z.string().min(1).max(64) }),
    responses: { 200: { description: 'The revoked token.', schema: tokenSchema } },
    async handler(ctx, { params, principal }) {
      const token = await revokeToken(deps.db, params.id, { actor: principal.actor, authority: principal });
      deps.tokens.revoked(token.id);
      ctx.body = token;
    },
  });

  return router;
}

/**
 * A front-end's token ships inside a web page, so anyone can read it: it must hold no other scope
 * and be limited to projects, or it would open more than the evaluations of the pages that carry it.
 */
function refuseUnsafeBrowserToken(body: { scopes: readonly string[]; projectIds?: readonly string[] | null | undefined; signedContext?: boolean | undefined }, ctx: z.RefinementCtx): void {
  if (!body.scopes.includes('feature_flag:browser')) {
    if (body.signedContext) ctx.addIssue({ code: 'custom', path: ['signedContext'], message: 'only a feature_flag:browser token evaluates signed contexts' });
    return;
  }
  if (body.scopes.length > 1) ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'feature_flag:browser is a front-end\'s token, readable by anyone who loads the page: it cannot be combined with another scope' });
  if (!body.projectIds) ctx.addIssue({ code: 'custom', path: ['projectIds'], message: 'a feature_flag:browser token must be limited to projects' });
}
