import { once } from 'node:events';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { latestOutboxId, readOutboxAfter, type OutboxEvent } from '../data/outbox.ts';
import { AppError } from '../errors.ts';
import { eventTypePatternSchema, matchesEventType } from '../events/event-types.ts';
import { Wakeup } from '../events/wakeup.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { RouteRegistry } from './route.ts';

/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** The safety net under LISTEN/NOTIFY; without a change feed, polling is all there is, so it is faster. */
const POLL_WITH_FEED_MS = 5_000;
const POLL_WITHOUT_FEED_MS = 1_000;
const BATCH_SIZE = 200;
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
        description: 'Server-Sent Events: `id: <outbox id>`, `event: <type>`, `data: {"id","type","entityKey","at","payload"}`; `: keep-alive` comments every 15 s. The stream does not end by itself.',
        contentType: 'text/event-stream',
        schema: z.string(),
      },
    },
    handler: async (ctx, { query }) => {
      const resumeFrom = lastEventId(ctx) ?? query.after ?? (await latestOutboxId(deps.db));
      openStream(ctx, deps, { after: resumeFrom, types: query.types ?? [] });
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

function formatEvent(event: OutboxEvent): string {
  // JSON.stringify never emits a raw newline, so the payload is always one `data:` line.
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

function openStream(ctx: Context, deps: ApiDependencies, options: { after: number; types: readonly string[] }): void {
  const { req, res } = ctx;
  req.socket.setTimeout(0);
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true);
  // The stream is written to the socket directly: Koa's own body piping reports every client that
  // goes away as an error, and a client going away is how every SSE stream ends.
  ctx.status = 200;
  ctx.respond = false;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });

  const wakeup = new Wakeup();
  const closed = new AbortController();
  /** The highest outbox id looked at; with a type filter, above the last id sent. */
  let scanned = options.after;
  const unsubscribe = deps.changeFeed?.subscribe((notice) => {
    if (notice === null || notice.seq > scanned) wakeup.wake();
  });
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const close = () => {
    if (closed.signal.aborted) return;
    closed.abort();
    clearInterval(heartbeat);
    unsubscribe?.();
    wakeup.wake();
    res.end();
  };
  res.once('close', close);
  res.once('error', close);

  const write = async (chunk: string) => {
    if (!res.write(chunk)) await once(res, 'drain', { signal: closed.signal });
  };
  const pollMs = deps.changeFeed ? POLL_WITH_FEED_MS : POLL_WITHOUT_FEED_MS;

  const pump = async () => {
    // The first bytes flush the headers, so the client knows at once that the stream is open.
    await write(`retry: ${RETRY_MS}\n: stream open after ${options.after}\n\n`);
    while (!closed.signal.aborted) {
      const seen = wakeup.generation;
      const events = await readOutboxAfter(deps.db, scanned, BATCH_SIZE);
      for (const event of events) {
        if (closed.signal.aborted) return;
        scanned = event.id;
        if (matchesEventType(options.types, event.type)) await write(formatEvent(event));
      }
      if (events.length < BATCH_SIZE) await wakeup.wait(seen, pollMs);
    }
  };
  pump().catch((error: unknown) => {
    if (closed.signal.aborted) return;
    // The client reconnects with its Last-Event-ID and resumes: ending is safer than guessing.
    deps.log.warn({ err: error, scanned }, 'event stream failed; closing it');
    close();
  });
}
