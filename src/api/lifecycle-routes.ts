import Router from '@koa/router';
import { z } from 'zod';
import { loadConfig } from '../config.ts';
import { listPurgeCandidates, retentionCutoff } from '../data/retention.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

/** The flag lifecycle beyond single flags: what retention would purge. */
export function lifecycleRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'lifecycle';
  const configuredDays = deps.archiveRetentionDays ?? loadConfig({}).archiveRetentionDays;

  registry.add(router, {
    method: 'get', operationId: 'previewRetention', path: '/v1/retention/preview', tag, scope: 'feature_flag:admin',
    summary: 'The dry run of retention: the archived flags its next run would purge (archived longer than FLAGS_ARCHIVE_RETENTION_DAYS, nothing open on them), oldest archive first.',
    query: z.object({
      archiveRetentionDays: z.coerce.number().int().min(1).max(36_500).optional().describe('Ask about another period than the configured one.'),
      limit: z.coerce.number().int().min(1).max(1_000).default(100),
    }),
    responses: {
      200: {
        description: 'The period, the cutoff, and the flags.',
        schema: z.object({ archiveRetentionDays: z.number(), cutoff: z.string(), items: z.array(z.object({ key: z.string(), version: z.number(), archivedAt: z.string() })) }),
      },
    },
    async handler(ctx, { query }) {
      const archiveRetentionDays = query.archiveRetentionDays ?? configuredDays;
      const cutoff = retentionCutoff(Date.now(), archiveRetentionDays);
      const candidates = await listPurgeCandidates(deps.db, { cutoff, limit: query.limit });
      ctx.body = {
        archiveRetentionDays,
        cutoff: new Date(cutoff).toISOString(),
        items: candidates.map((candidate) => ({ key: candidate.key, version: candidate.version, archivedAt: new Date(candidate.archivedAt).toISOString() })),
      };
    },
  });

  return router;
}
