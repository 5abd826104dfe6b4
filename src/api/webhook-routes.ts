import Router from '@koa/router';
import { z } from 'zod';
import { createWebhook, deleteWebhook, getWebhook, listWebhooks } from '../data/webhooks.ts';
import { eventTypePatternSchema } from '../events/event-types.ts';
import { generateWebhookSecret } from '../events/generate-webhook-secret.ts';
import type { ApiDependencies } from './dependencies.ts';
import { refuseOutboundUrls } from './outbound-urls.ts';
import type { RouteRegistry } from './route.ts';

const createBody = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
      .max(2_048)
      .describe('Receives a signed POST per event. Refused when it is, or resolves to, a private, loopback, link-local or metadata address the outbound policy does not allow (FLAGS_OUTBOUND_ALLOW).'),
    eventTypes: z
      .array(eventTypePatternSchema)
      .max(50)
      .optional()
      .describe('Event types or families (flag.updated, segment.*); every type when absent or empty'),
  })
  .strict();

const params = z.object({ id: z.string().min(1).max(100) });

const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  eventTypes: z.array(z.string()),
  active: z.boolean(),
  cursor: z.number().describe('Last outbox id the receiver acknowledged (or that did not match eventTypes)'),
  attempts: z.number().describe('Failed attempts at the event after the cursor; 0 while deliveries succeed'),
  nextAttemptAt: z.string(),
  lastError: z.string().nullable().describe('The most recent failure, kept after later successes'),
  lastErrorAt: z.string().nullable(),
  lastDeliveredAt: z.string().nullable(),
  deliveredCount: z.number(),
  failedCount: z.number(),
  createdAt: z.string(),
  createdBy: z.string(),
});

const createdSchema = webhookSchema.extend({
  secret: z.string().describe('HMAC-SHA256 key for X-Flags-Signature; shown only in this response'),
});

/** `/v1/webhooks`: register, inspect and remove receivers of the event stream (admin scope). */
export function webhookRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();

  registry.add(router, {
    method: 'post',
    operationId: 'createWebhook',
    path: '/v1/webhooks',
    summary: 'Register a webhook; it receives every event committed from now on, signed with the returned secret',
    tag: 'webhooks',
    scope: 'feature_flag:admin',
    body: createBody,
    responses: { 201: { description: 'the webhook, with its secret (returned only here)', schema: createdSchema } },
    handler: async (ctx, { body, principal }) => {
      await refuseOutboundUrls(deps.outbound, [{ path: 'url', url: body.url }]);
      const secret = generateWebhookSecret();
      const webhook = await createWebhook(deps.db, { url: body.url, eventTypes: body.eventTypes ?? [], secret, actor: principal.actor });
      ctx.status = 201;
      ctx.set('Location', `/v1/webhooks/${webhook.id}`);
      ctx.body = { ...webhook, secret };
    },
  });

  registry.add(router, {
    method: 'get',
    operationId: 'listWebhooks',
    path: '/v1/webhooks',
    summary: 'List webhooks with their delivery state',
    tag: 'webhooks',
    scope: 'feature_flag:admin',
    responses: { 200: { description: 'every webhook, oldest first', schema: z.object({ webhooks: z.array(webhookSchema) }) } },
    handler: async (ctx) => {
      ctx.body = { webhooks: await listWebhooks(deps.db) };
    },
  });

  registry.add(router, {
    method: 'get',
    operationId: 'getWebhook',
    path: '/v1/webhooks/:id',
    summary: 'A webhook and its delivery state (cursor, attempts, last error, next attempt)',
    tag: 'webhooks',
    scope: 'feature_flag:admin',
    params,
    responses: { 200: { description: 'the webhook', schema: webhookSchema } },
    handler: async (ctx, { params: { id } }) => {
      ctx.body = await getWebhook(deps.db, id);
    },
  });

  registry.add(router, {
    method: 'delete',
    operationId: 'deleteWebhook',
    path: '/v1/webhooks/:id',
    summary: 'Remove a webhook; deliveries to it stop',
    tag: 'webhooks',
    scope: 'feature_flag:admin',
    params,
    responses: { 204: { description: 'removed' } },
    handler: async (ctx, { params: { id }, principal }) => {
      await deleteWebhook(deps.db, { id, actor: principal.actor });
      ctx.status = 204;
    },
  });

  return router;
}
