import Router from '@koa/router';
import { z } from 'zod';
import { appendEventNumbered, inWriteTransaction } from '../data/write-transaction.ts';
import type { ApiDependencies } from './dependencies.ts';
import { checkProject } from './evaluation-routes.ts';
import type { RouteRegistry } from './route.ts';
import { TRACKING_EVENT_TYPE } from '../domain/event-types.ts';

/** Tracking events per request, and so per outbox event; the SDK sends at most this many at once. */
const MAX_TRACKING_EVENTS_PER_BATCH = 1_000;

const identity = z.string().min(1).max(256);
const scalar = z.union([z.boolean(), z.number(), z.string().max(256)]);

/**
 * One OpenFeature `track(eventName, context, details)` call: the event's name, the identity it was
 * made for (never the rest of the context: it is the caller's user data), its numeric value and at
 * most 20 scalar attributes of the details.
 */
const trackingEventSchema = z.strictObject({
  eventName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/),
  userId: identity.optional(),
  projectId: identity.optional(),
  value: z.number().finite().optional(),
  attributes: z.record(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), scalar).refine((record) => Object.keys(record).length <= 20, 'at most 20 attributes').optional(),
  at: z.iso.datetime({ offset: true }).describe('When track() was called (ISO 8601).'),
});

/**
 * `POST /v1/tracking-events`: the SDK's batched OpenFeature tracking events, appended to the outbox
 * as ONE `tracking.events` event per batch, as exposures are, so the stream and webhooks carry them
 * to analytics (only to consumers that name the type: see OPT_IN_EVENT_TYPES). Never a flag-set change.
 */
export function trackingRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  registry.add(router, {
    method: 'post',
    operationId: 'recordTrackingEvents',
    path: '/v1/tracking-events',
    tag: 'evaluation',
    scope: 'feature_flag:evaluate',
    summary: `Record a batch of OpenFeature tracking events (at most ${MAX_TRACKING_EVENTS_PER_BATCH}) from an SDK; appended to the outbox as one tracking.events event.`,
    body: z.strictObject({ events: z.array(trackingEventSchema).min(1).max(MAX_TRACKING_EVENTS_PER_BATCH) }),
    responses: { 202: { description: 'Accepted: the outbox event id and how many events it holds.', schema: z.object({ eventId: z.number(), accepted: z.number() }) } },
    async handler(ctx, { body, principal }) {
      if (principal.projectIds !== null) for (const event of body.events) checkProject(principal, { projectId: event.projectId });
      const eventId = await inWriteTransaction(deps.db, (tx) =>
        appendEventNumbered(tx, {
          type: TRACKING_EVENT_TYPE,
          entityKey: null,
          payload: { source: principal.name, receivedAt: new Date().toISOString(), count: body.events.length, events: body.events },
        }),
      );
      ctx.status = 202;
      ctx.body = { eventId, accepted: body.events.length };
    },
  });
  return router;
}
