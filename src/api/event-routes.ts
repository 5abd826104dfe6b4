import { once } from 'node:events';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import { eventTypePatternSchema, matchesEventType } from '../events/event-types.ts';
import type { OutboxTail, StreamLease } from '../events/outbox-tail.ts';
import type { ApiDependencies } from './dependencies.ts';
import { openEventStream } from './open-event-stream.ts';
import type { RouteRegistry } from './route.ts';

/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** Sent to EventSource clients: how long to wait before reconnecting after the stream ends. */
const RETRY_MS = 2_000;

const eventIdSchema = z.string().regex(/^\d{1,15}$/, 'must be an outbox event id (a non-negative integer)').transform(Number);

const querySchema = z.object({
  after: eventIdSchema.optional().describe('Replay every event after this id, then stream live (for clients that cannot send Last-Event-ID; the header wins).'),
  types: z
    .string()
    .max(2_000)
    .transform((text) => text.split(',').map((part) => part.trim()).filter((part) => part !== ''))
    .pipe(z.array(eventTypePatternSchema).max(50))
    .optional()
    .describe('Comma-separated event types or families (flag.updated,segment.*); all types when absent.'),
});

/**
 * `GET /v1/events`: the outbox as Server-Sent Events. Each event carries its outbox id as the SSE
 * id, so a client that reconnects with `Last-Event-ID` (EventSource does it by itself) gets exactly
 * what it missed and then the live tail: ids increase in commit order (see readOutboxAfter).
 */
export function eventRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  registry.add(router, {
    method: 'get',
    operationId: 'streamEvents',
    path: '/v1/events',
    summary: 'Stream change events (Server-Sent Events), resumable with Last-Event-ID',
    tag: 'events',
    scope: 'feature_flag:manage',
    query: querySchema,
    responses: {
      200: {
        description: 'Server-Sent Events: `id: <outbox id>`, `event: <type>`, `data: {"id","type","entityKey","at","payload"}`; `: keep-alive` comments every 15 s. A stream that sends no event for the idle time (FLAGS_EVENT_STREAM_IDLE_SECONDS) ends with an id to resume from; past a cap on open streams, 429 too_many_requests (per token) or 503 unavailable (per process).',
        contentType: 'text/event-stream',
        schema: z.string(),
      },
    },
    handler: async (ctx, { query, principal }) => {
      const after = lastEventId(ctx) ?? query.after;
      const lease = deps.outboxTail.open(principal.tokenId);
      try {
        const resumeFrom = after ?? (await deps.outboxTail.newestId());
        openStream(ctx, deps, lease, { after: resumeFrom, types: query.types ?? [] });
      } catch (error) {
        lease.release();
        throw error;
      }
    },
  });
  return router;
}

function lastEventId(ctx: Context): number | undefined {
  const header = ctx.get('last-event-id').trim();
  if (header === '') return undefined;
  const parsed = eventIdSchema.safeParse(header);
  if (!parsed.success) {
    throw new AppError('validation_error', 'invalid header: Last-Event-ID must be an outbox event id (a non-negative integer)', {
      issues: [{ path: 'Last-Event-ID', message: 'must be an outbox event id (a non-negative integer)' }],
    });
  }
  return parsed.data;
}

function openStream(ctx: Context, deps: Pick<ApiDependencies, 'outboxTail' | 'log' | 'eventStreamIdleMs'>, lease: StreamLease, options: { after: number; types: readonly string[] }): void {
  const tail: OutboxTail = deps.outboxTail;
  const res = openEventStream(ctx);

  const closed = new AbortController();
  /** The highest outbox id looked at; with a type filter, above the last id sent. */
  let scanned = options.after;
  const idleMs = deps.eventStreamIdleMs;
  let lastSentAt = Date.now();
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const close = () => {
    if (closed.signal.aborted) return;
    closed.abort();
    clearInterval(heartbeat);
    lease.release();
    res.end();
  };
  res.once('close', close);
  res.once('error', close);

  const write = async (chunk: string) => {
    if (!res.write(chunk)) await once(res, 'drain', { signal: closed.signal });
  };

  const pump = async () => {
    // The first bytes flush the headers, so the client knows at once that the stream is open.
    await write(`retry: ${RETRY_MS}\n: stream open after ${options.after}\n\n`);
    while (!closed.signal.aborted) {
      const seen = tail.generation;
      const frames = await tail.framesAfter(scanned);
      for (const frame of frames) {
        if (closed.signal.aborted) return;
        scanned = frame.id;
        if (matchesEventType(options.types, frame.type)) {
          await write(frame.text);
          lastSentAt = Date.now();
        }
      }
      if (frames.length > 0) continue;
      const idleLeft = lastSentAt + idleMs - Date.now();
      if (idleLeft <= 0) {
        // An id without data moves the client's Last-Event-ID past what this stream looked at, so
        // the reconnect (EventSource makes it by itself after `retry`) resumes right here.
        await write(`id: ${scanned}\n: closed after ${Math.round(idleMs / 1000)} s without an event; reconnect with Last-Event-ID to resume\n\n`);
        close();
        return;
      }
      await tail.wait(seen, idleLeft);
    }
  };
  pump().catch((error: unknown) => {
    if (closed.signal.aborted) return;
    // The client reconnects with its Last-Event-ID and resumes: ending is safer than guessing.
    deps.log.warn({ err: error, scanned }, 'event stream failed; closing it');
    close();
  });
}
