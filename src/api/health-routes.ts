import Router from '@koa/router';
import { z } from 'zod';
import type { ApiDependencies } from './dependencies.ts';
import { checkHealth, flagSetHealth, isReady } from './health.ts';
import type { RouteRegistry } from './route.ts';

/**
 * Health for machines and for people, without a token: `/livez` (the process answers), `/readyz`
 * (it can serve evaluations; stays 200 while PostgreSQL or Temporal is down, because evaluations are
 * answered from memory) and `/health` (every part, and how stale the flag set is). docs/api.md says
 * what each status code means.
 */
const liveSchema = z.object({ status: z.literal('ok') });
const readySchema = z.looseObject({ status: z.enum(['ready', 'not_ready']), flagSet: z.looseObject({ stale: z.boolean() }) }).describe('Whether this process can serve evaluations, and the flag set it serves them from.');
const healthSchema = z.looseObject({ status: z.enum(['ok', 'degraded', 'unavailable']), ready: z.boolean() }).describe('Each part: database, temporal, flagSet (source, version, staleness), tokens, snapshot.');

export function healthRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'service';

  registry.add(router, {
    method: 'get', operationId: 'getLiveness', path: '/livez', tag,
    summary: 'Liveness: the process answers HTTP. Always 200; checks nothing else.',
    responses: { 200: { description: '{ status: "ok" }', schema: liveSchema } },
    async handler(ctx) {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getReadiness', path: '/readyz', tag,
    summary: 'Readiness: the process can serve evaluations (a flag set and tokens are loaded, from the database or the last published snapshot). 200 through a PostgreSQL or Temporal outage; 503 otherwise.',
    responses: {
      200: { description: 'Ready; the flag set may be stale (see /health).', schema: readySchema },
      503: { description: 'Not ready: no flag set or no tokens to authenticate with.', schema: readySchema },
    },
    async handler(ctx) {
      const ready = isReady(deps.health);
      ctx.set('Cache-Control', 'no-store');
      ctx.status = ready ? 200 : 503;
      ctx.body = { status: ready ? 'ready' : 'not_ready', flagSet: flagSetHealth(deps.flagSet) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getHealth', path: '/health', tag,
    summary: 'Full status: PostgreSQL, Temporal, the flag set (source, version, staleness), tokens and the published snapshot. 200 while evaluations are served (status "ok" or "degraded"), 503 when not ready.',
    responses: {
      200: { description: 'status "ok": every part answers; "degraded": evaluations are served but a part is down or the flag set is stale.', schema: healthSchema },
      503: { description: 'status "unavailable": the process cannot serve evaluations.', schema: healthSchema },
    },
    async handler(ctx) {
      const health = await checkHealth(deps.health);
      ctx.set('Cache-Control', 'no-store');
      ctx.status = health.ready ? 200 : 503;
      ctx.body = health;
    },
  });

  return router;
}
