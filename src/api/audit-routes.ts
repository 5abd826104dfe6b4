import Router from '@koa/router';
import { z } from 'zod';
import { listAudit, verifyAudit } from '../data/audit.ts';
import type { ApiDependencies } from './dependencies.ts';
import { pageQuery } from './pagination.ts';
import type { RouteRegistry } from './route.ts';
import { decodeCursor, encodeCursor } from './versioning.ts';

/** The audit log: read it, and verify its hash chain. */
export function auditRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'audit';

  registry.add(router, {
    method: 'get', path: '/v1/audit', tag, scope: 'feature_flag:manage',
    summary: 'Audit entries, newest first, filtered by entity, actor (or approver) and action.',
    query: z.object({
      entityType: z.enum(['flag', 'segment', 'killswitch', 'token', 'webhook', 'rollout', 'change_request']).optional(),
      entityKey: z.string().max(128).optional(),
      actor: z.string().max(128).optional(),
      action: z.string().max(64).optional(),
      ...pageQuery(deps.maxPageSize),
    }),
    responses: { 200: { description: 'A page of audit entries (actor, action, version, before, after, diff, at, hash).' } },
    async handler(ctx, { query }) {
      const before = decodeCursor<number>(query.cursor, 'number');
      const page = await listAudit(deps.db, {
        limit: query.limit,
        ...(query.entityType ? { entityType: query.entityType } : {}),
        ...(query.entityKey ? { entityKey: query.entityKey } : {}),
        ...(query.actor ? { actor: query.actor } : {}),
        ...(query.action ? { action: query.action } : {}),
        ...(before ? { before } : {}),
      });
      ctx.body = { items: page.items, nextCursor: encodeCursor(page.nextBefore) };
    },
  });

  registry.add(router, {
    method: 'get', path: '/v1/audit/verify', tag, scope: 'feature_flag:manage',
    summary: 'Walk the hash chain and name the first entry that does not fit.',
    responses: { 200: { description: '{ ok: true, entries } or { ok: false, firstBadId, problem }.' } },
    async handler(ctx) {
      ctx.body = await verifyAudit(deps.db);
    },
  });

  return router;
}
