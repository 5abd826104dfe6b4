import Router from '@koa/router';
import { z } from 'zod';
import { listFlags } from '../data/flags.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

const manifestFlag = z.object({
  key: z.string(),
  name: z.string(),
  type: z.enum(['boolean', 'string', 'integer', 'float', 'object']),
  description: z.string().nullable(),
  defaultValue: z.unknown(),
});

/** OpenFeature's flag types: a number flag is an integer one when every value it can serve is whole. */
function manifestType(flag: { type: string; defaultValue: unknown; onValue?: unknown; offValue?: unknown; variants: Record<string, unknown> }): z.infer<typeof manifestFlag>['type'] {
  if (flag.type === 'json') return 'object';
  if (flag.type !== 'number') return flag.type as 'boolean' | 'string';
  const values = [flag.defaultValue, flag.onValue, flag.offValue, ...Object.values(flag.variants)].filter((value) => value !== undefined);
  return values.every((value) => Number.isInteger(value)) ? 'integer' : 'float';
}

/**
 * OpenFeature's manifest (the CLI's sync API, `GET /openfeature/v0/manifest`), read-only: every
 * active flag's key, type, description and default value, so `openfeature pull` and its code
 * generators work against this service.
 */
export function openFeatureManifestRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  registry.add(router, {
    method: 'get', operationId: 'getOpenFeatureManifest', path: '/openfeature/v0/manifest', tag: 'ofrep', scope: ['feature_flag:manage', 'feature_flag:evaluate'],
    summary: 'OpenFeature flag manifest of the active flags, for `openfeature pull` and code generation.',
    responses: { 200: { description: 'The manifest.', schema: z.object({ flags: z.array(manifestFlag) }) } },
    async handler(ctx) {
      const flags: z.infer<typeof manifestFlag>[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await listFlags(deps.db, { limit: 200, state: 'active', ...(after ? { after } : {}) });
        for (const flag of page.items) flags.push({ key: flag.key, name: flag.key, type: manifestType(flag), description: flag.description || null, defaultValue: flag.defaultValue });
        if (!page.nextAfter) break;
        after = page.nextAfter;
      }
      ctx.body = { flags };
    },
  });
  return router;
}
