import Router from '@koa/router';
import { z } from 'zod';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

const clientSchema = z.object({ clientId: z.string() }).nullable();

const authConfigSchema = z.object({
  identityProvider: z.object({
    issuer: z.string().describe('The provider\'s issuer; its discovery document is at <issuer>/.well-known/openid-configuration.'),
    audience: z.string().describe('The audience the provider must issue the access token for: the API refuses any other.'),
    scopes: z.string().describe('The scopes to ask for, space-separated.'),
    authorizationEndpoint: z.string().nullable(),
    tokenEndpoint: z.string().nullable(),
    deviceAuthorizationEndpoint: z.string().nullable(),
    cli: clientSchema.describe('The CLI\'s public client (device authorization grant); null when not offered.'),
    console: clientSchema.describe('The console\'s public client (authorization code with PKCE, redirect URI <service>/ui/); null when not offered.'),
  }).nullable().describe('null: no identity provider is configured; sign in with a token.'),
});

/**
 * How people sign in, without a token: whether an identity provider is configured and the public
 * clients the CLI and the console use with it. Nothing here is secret (public clients have no
 * secret); the endpoints are those the service itself discovered, null until it has reached the
 * provider, so the console needs no request to any origin but the token endpoint's.
 */
export function authConfigRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  registry.add(router, {
    method: 'get', operationId: 'getAuthConfig', path: '/v1/auth/config', tag: 'service',
    summary: 'How to sign in: the identity provider (if any), the endpoints its discovery document names, and the public client ids of the CLI (device flow) and the console (authorization code + PKCE). Public.',
    responses: { 200: { description: 'The sign-in configuration.', schema: authConfigSchema } },
    async handler(ctx) {
      const provider = deps.identityProvider;
      ctx.set('Cache-Control', 'no-store');
      if (!provider) {
        ctx.body = { identityProvider: null };
        return;
      }
      const endpoints = await provider.endpoints();
      const { cliClientId, consoleClientId, scopes } = provider.clients;
      ctx.body = {
        identityProvider: {
          issuer: provider.issuer,
          audience: provider.audience,
          scopes,
          authorizationEndpoint: endpoints?.authorizationEndpoint ?? null,
          tokenEndpoint: endpoints?.tokenEndpoint ?? null,
          deviceAuthorizationEndpoint: endpoints?.deviceAuthorizationEndpoint ?? null,
          cli: cliClientId ? { clientId: cliClientId } : null,
          console: consoleClientId ? { clientId: consoleClientId } : null,
        },
      };
    },
  });
  return router;
}
