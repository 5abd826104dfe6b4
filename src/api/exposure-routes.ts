import Router from '@koa/router';
import { z } from 'zod';
import { appendEventNumbered, inWriteTransaction } from '../data/write-transaction.ts';
import { REASONS } from '@flagship/engine';
import { FLAG_KEY_PATTERN } from '@flagship/engine/validate';
import type { ApiDependencies } from './dependencies.ts';
import { checkProject } from './evaluation-routes.ts';
import type { RouteRegistry } from './route.ts';
import { EXPOSURE_EVENT_TYPE } from '../domain/event-types.ts';

/** Exposures per request, and so per outbox event. The SDK sends at most this many at once. */
const MAX_EXPOSURES_PER_BATCH = 1_000;

const identity = z.string().min(1).max(256);

/**
 * One exposure: which flag answered what, for whom, when. Only the identity travels (`userId` —
 * the SDK sends `targetingKey` there when `userId` is absent — and `projectId`), never the other
 * context attributes: they are the caller's user data and analytics does not need them. Values are
 * scalars only; a json flag's exposure names its variant and version instead.
 */
const exposureSchema = z.strictObject({
  flagKey: z.string().regex(FLAG_KEY_PATTERN),
  flagVersion: z.number().int().min(1),
  reason: z.enum(REASONS).exclude(['error']),
  variant: z.string().min(1).max(64).optional(),
  value: z.union([z.boolean(), z.number(), z.string().max(256)]).optional(),
  ruleId: z.string().min(1).max(64).optional(),
  inRollout: z.boolean().optional(),
  userId: identity.optional(),
  projectId: identity.optional(),
  at: z.iso.datetime({ offset: true }).describe('When the flag was evaluated (ISO 8601).'),
});

const bodySchema = z.strictObject({
  exposures: z.array(exposureSchema).min(1).max(MAX_EXPOSURES_PER_BATCH),
});

/**
 * `POST /v1/exposures`: the SDK's batched exposure events, appended to the outbox as ONE
 * `flag.exposure` event per batch, so the stream and webhooks carry them to analytics.
 *
 * One event per batch keeps the outbox (and every SSE/webhook consumer scanning it) a thousand
 * times smaller than one row per exposure. It takes its id at once, under the append lock (the
 * answer carries it), instead of waiting for the sequencer like a change's events: consumers resume
 * "after id N" and rely on ids committing in order, and a batch is one short insert, so a flush every
 * few seconds per SDK process does not contend with flag writes.
 * `flag.exposure` events are not flag-set changes: they never move the snapshot version.
 */
export function exposureRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  registry.add(router, {
    method: 'post',
    operationId: 'recordExposures',
    path: '/v1/exposures',
    tag: 'evaluation',
    scope: 'feature_flag:evaluate',
    summary: `Record a batch of exposure events (at most ${MAX_EXPOSURES_PER_BATCH}) from an SDK; appended to the outbox as one flag.exposure event.`,
    body: bodySchema,
    responses: { 202: { description: 'Accepted: the outbox event id and how many exposures it holds.', schema: z.object({ eventId: z.number(), accepted: z.number() }) } },
    async handler(ctx, { body, principal }) {
      // A token limited to projects reports only its projects' exposures, as it evaluates only for them.
      if (principal.projectIds !== null) for (const exposure of body.exposures) checkProject(principal, { projectId: exposure.projectId });
      const eventId = await inWriteTransaction(deps.db, (tx) =>
        appendEventNumbered(tx, {
          type: EXPOSURE_EVENT_TYPE,
          entityKey: null,
          payload: { source: principal.name, receivedAt: new Date().toISOString(), count: body.exposures.length, exposures: body.exposures },
        }),
        // Analytics, not a change: the batch queues only for the append, not behind flag writes.
        { appendsOnly: true },
      );
      deps.metrics.exposures.inc(body.exposures.length);
      // SDKs evaluate locally: their exposures are a flag's evaluations too. Only flags this process
      // holds are counted, under the version it holds, so reports cannot grow the counts' memory.
      if (deps.insights) {
        const set = deps.flagSet.current;
        for (const exposure of body.exposures) {
          const compiled = set.flags.get(exposure.flagKey);
          if (!compiled) continue;
          deps.insights.countExposure({ flagKey: exposure.flagKey, flagVersion: compiled.version, reason: exposure.reason, variant: exposure.variant ?? null, value: exposure.value ?? null, ...(exposure.ruleId ? { ruleId: exposure.ruleId } : {}) }, 1);
        }
      }
      // Opt-in (FLAGS_SAMPLE_EXPOSURES): an exposure carries only the identity, which is what bucketing reads.
      if (deps.sampler && deps.sampleExposures) {
        const set = deps.flagSet.current;
        for (const exposure of body.exposures) {
          if (!set.has(exposure.flagKey) || (exposure.userId === undefined && exposure.projectId === undefined)) continue;
          deps.sampler.offer(exposure.flagKey, { ...(exposure.userId !== undefined ? { userId: exposure.userId } : {}), ...(exposure.projectId !== undefined ? { projectId: exposure.projectId } : {}) }, principal.name);
        }
      }
      ctx.status = 202;
      ctx.body = { eventId, accepted: body.exposures.length };
    },
  });
  return router;
}
