import Router from '@koa/router';
import { z } from 'zod';
import { loadConfig } from '../config.ts';
import { daysBefore, listCleanupCandidates } from '../data/cleanup.ts';
import { getFlag } from '../data/flags.ts';
import { flagInsights, INSIGHT_WINDOWS, listStaleFlags } from '../data/insights.ts';
import { listPurgeCandidates, retentionCutoff } from '../data/retention.ts';
import { AppError } from '../errors.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';
import { encodeCursor } from './versioning.ts';

function iso(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString();
}

function staleSettings(deps: Pick<ApiDependencies, 'stale'>): { unevaluatedDays: number; singleValueDays: number } {
  if (deps.stale) return deps.stale;
  const config = loadConfig({});
  return { unevaluatedDays: config.staleUnevaluatedDays, singleValueDays: config.staleSingleValueDays };
}

/** A served value as counted: its JSON, cut at 200 characters (then shown as the text it is). */
function parseServed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A page of `GET /v1/flags?stale=true`: the stale flags in key order, each with why. */
export async function staleFlagPage(deps: Pick<ApiDependencies, 'db' | 'stale'>, page: { limit: number; after?: string; owner?: string }): Promise<{ items: Record<string, unknown>[]; nextCursor: string | null }> {
  const stale = await listStaleFlags(deps.db, { ...staleSettings(deps), limit: page.limit + 1, ...(page.after ? { after: page.after } : {}), ...(page.owner ? { owner: page.owner } : {}) });
  const listed = stale.slice(0, page.limit);
  const items: Record<string, unknown>[] = [];
  for (const entry of listed) {
    const flag = await getFlag(deps.db, entry.key);
    if (!flag) continue;
    items.push({
      ...flag,
      stale: { reason: entry.reason, since: iso(entry.since), lastEvaluatedAt: iso(entry.lastEvaluatedAt), ...(entry.value === null ? {} : { value: parseServed(entry.value) }) },
    });
  }
  return { items, nextCursor: stale.length > page.limit ? encodeCursor(listed.at(-1)?.key ?? null) : null };
}

/** The flag lifecycle beyond single flags: what retention would purge and clean up, a flag's insights. */
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

  const configuredCleanupDays = deps.cleanupAfterDays ?? loadConfig({}).cleanupAfterDays;
  const finished = z.object({ id: z.string(), flagKey: z.string(), finishedAt: z.string() });
  registry.add(router, {
    method: 'get', operationId: 'previewCleanup', path: '/v1/retention/cleanup-preview', tag, scope: 'feature_flag:admin',
    summary: 'The dry run of clean-up: the finished rollout plans, decided change requests and finished scheduled changes the next retention run would remove (finished more than FLAGS_CLEANUP_AFTER_DAYS ago), oldest first. Their history stays in the audit log.',
    query: z.object({
      cleanupAfterDays: z.coerce.number().int().min(1).max(36_500).optional().describe('Ask about another age than the configured one.'),
      limit: z.coerce.number().int().min(1).max(1_000).default(100).describe('At most this many of each kind.'),
    }),
    responses: {
      200: {
        description: 'The age, the cutoff, and the records of each kind.',
        schema: z.object({
          cleanupAfterDays: z.number(),
          cutoff: z.string(),
          rollouts: z.array(finished.extend({ state: z.string() })),
          changeRequests: z.array(finished.extend({ status: z.string() })),
          scheduledChanges: z.array(finished.extend({ status: z.string() })),
        }),
      },
    },
    async handler(ctx, { query }) {
      const cleanupAfterDays = query.cleanupAfterDays ?? configuredCleanupDays;
      const cutoff = daysBefore(Date.now(), cleanupAfterDays);
      ctx.body = { cleanupAfterDays, cutoff: new Date(cutoff).toISOString(), ...(await listCleanupCandidates(deps.db, { cutoff, limit: query.limit })) };
    },
  });

  const windowSchema = z.object({ total: z.number(), byReason: z.record(z.string(), z.number()), byRule: z.record(z.string(), z.number()), byVariant: z.record(z.string(), z.number()), byValue: z.record(z.string(), z.number()) });
  registry.add(router, {
    method: 'get', operationId: 'getFlagInsights', path: '/v1/flags/:key/insights', tag, scope: 'feature_flag:manage',
    summary: 'How a flag is evaluated: counts by reason, rule, variant and served value over the last hour, day, week and month (whole hours), from every API process and the SDKs\' exposures, and when it was last evaluated.',
    params: z.object({ key: z.string().min(1).max(128) }),
    responses: {
      200: {
        description: 'The counts per window.',
        schema: z.object({ flagKey: z.string(), lastEvaluatedAt: z.string().nullable(), windows: z.object(Object.fromEntries(Object.keys(INSIGHT_WINDOWS).map((name) => [name, windowSchema]))) }),
      },
    },
    async handler(ctx, { params }) {
      if (!(await getFlag(deps.db, params.key))) throw new AppError('not_found', `flag "${params.key}" does not exist`);
      const insights = await flagInsights(deps.db, params.key);
      ctx.body = { flagKey: params.key, lastEvaluatedAt: iso(insights.lastEvaluatedAt), windows: insights.windows };
    },
  });

  return router;
}
