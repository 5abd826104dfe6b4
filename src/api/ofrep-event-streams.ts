import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { OutboxTail } from '../events/outbox-tail.ts';
import { hasScope } from './auth.ts';
import type { LiveFlagSet } from './live-flag-set.ts';
import type { LiveTokenSet } from './live-token-set.ts';
import { openEventStream } from './open-event-stream.ts';
import type { RouteRegistry } from './route.ts';
import type { Principal } from './principal.ts';

export const OFREP_EVENT_STREAM_PATH = '/ofrep/v1/event-stream';

/**
 * The flag set's id in OpenFeature's flag metadata (`flagSetId`, telemetry's feature_flag.set.id).
 * A deployment serves one flag set.
 */
export const FLAG_SET_ID = 'flagship';

/** A comment line this often keeps proxies from closing an idle stream, and finds peers that are gone. */
const HEARTBEAT_MS = 15_000;
/** EventSource waits this long before reconnecting after the stream ends. */
const RETRY_MS = 2_000;
/** A stream whose socket still holds this much unsent text gets no more: the next refetch it reads covers every change since. */
const MAX_UNSENT_BYTES = 4_096;

/** One entry of OFREP's `eventStreams` (ADR-0008): where to listen for `refetchEvaluation`. */
export interface OfrepEventStream {
  type: 'sse';
  endpoint: { requestUri: string };
}

export interface OfrepEventStreamsOptions {
  flagSet: Pick<LiveFlagSet, 'onChange' | 'version'>;
  tokens: Pick<LiveTokenSet, 'byId'>;
  /** Whose caps (per process, per token) these streams count against, beside /v1/events. */
  limits: Pick<OutboxTail, 'lease'>;
  heartbeatMs?: number;
}

/**
 * OFREP's change notifications: every open stream of this API process hears of the flag set's own
 * changes, through one listener, and is sent `refetchEvaluation` with the new flag-set version once
 * the change is installed here, so the re-fetch it triggers already sees it. One listener and one
 * heartbeat timer serve every stream; nothing here reads the database, however many browsers listen.
 *
 * EventSource sends no Authorization header, so the URL carries a ticket: the token's id and an HMAC
 * of it keyed by the hash of the token's secret (which only this service holds). It grants nothing
 * but this stream, ends with the token, and keeps the secret out of URLs and access logs.
 * The streams are not closed for idleness, unlike /v1/events: they carry no backlog to resume, and
 * a reconnect makes the OFREP web provider report itself stale until its next change.
 */
export class OfrepEventStreams {
  readonly #options: OfrepEventStreamsOptions;
  readonly #open = new Set<ServerResponse>();
  /** One announcement per principal, built on its first bulk answer: principals live as long as their token. */
  readonly #announcements = new WeakMap<Principal, readonly OfrepEventStream[]>();
  readonly #bodies = new WeakMap<object, { announcement: readonly OfrepEventStream[]; body: string }>();
  /** Stops following the flag set; set while a stream is open. */
  #following: (() => void) | undefined;

  constructor(options: OfrepEventStreamsOptions) {
    this.#options = options;
  }

  /** The `eventStreams` a bulk answer to this principal names. */
  announce(principal: Principal): readonly OfrepEventStream[] {
    let announcement = this.#announcements.get(principal);
    if (!announcement) {
      const known = this.#options.tokens.byId(principal.tokenId);
      if (!known) return [];
      announcement = [{ type: 'sse', endpoint: { requestUri: `${OFREP_EVENT_STREAM_PATH}?ticket=${principal.tokenId}.${ticketMac(known.tokenHash, principal.tokenId)}` } }];
      this.#announcements.set(principal, announcement);
    }
    return announcement;
  }

  /**
   * A cached bulk answer's body for this principal, its event streams added. The body is kept with
   * the answer (until the answer leaves its cache) for the last token that asked: joining them
   * copies the whole answer (1.4 MB for 10,000 flags, 3 ms), which a repeat must not pay again.
   */
  bulkBody(answer: { readonly json: string }, principal: Principal): string {
    const announcement = this.announce(principal);
    const held = this.#bodies.get(answer);
    if (held?.announcement === announcement) return held.body;
    const body = ofrepBulkEnvelope(answer.json, announcement);
    this.#bodies.set(answer, { announcement, body });
    return body;
  }

  /** The principal a ticket was made for, if the ticket is genuine and the token still lives. */
  redeem(ticket: string): Principal {
    const dot = ticket.lastIndexOf('.');
    const tokenId = ticket.slice(0, dot);
    const known = dot > 0 ? this.#options.tokens.byId(tokenId) : undefined;
    const given = Buffer.from(ticket.slice(dot + 1));
    const expected = known ? Buffer.from(ticketMac(known.tokenHash, tokenId)) : undefined;
    if (!known || !expected || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError('unauthenticated', 'the event-stream ticket is unknown, forged, or its token was revoked; take a fresh one from a bulk evaluation');
    }
    if (!hasScope(known.principal, 'feature_flag:evaluate') && !hasScope(known.principal, 'feature_flag:browser')) {
      throw new AppError('permission_denied', `the token "${known.principal.name}" may not evaluate`);
    }
    return known.principal;
  }

  /** Serves one stream on this request's socket until the client goes away. */
  open(ctx: Context, principal: Principal): void {
    const lease = this.#options.limits.lease(principal.tokenId);
    const res = openEventStream(ctx, corsHeadersOf(ctx));
    res.write(`retry: ${RETRY_MS}\n: flag set ${this.#options.flagSet.version}\n\n`);
    const close = () => {
      if (!this.#open.delete(res)) return;
      lease.release();
      res.end();
      if (this.#open.size === 0) this.#following?.();
    };
    res.once('close', close);
    res.once('error', close);
    this.#open.add(res);
    this.#start();
  }

  /**
   * Follows the flag set and beats the heart while a stream is open; a change is sent on the next
   * turn of the event loop, so the write that caused it answers without waiting on thousands of
   * sockets, and a burst of changes is one frame.
   */
  #start(): void {
    if (this.#following) return;
    let pending = false;
    const unsubscribe = this.#options.flagSet.onChange(() => {
      if (pending) return;
      pending = true;
      setImmediate(() => {
        pending = false;
        this.#broadcast(refetchFrame(this.#options.flagSet.version));
      });
    });
    const heartbeat = setInterval(() => this.#broadcast(': keep-alive\n\n'), this.#options.heartbeatMs ?? HEARTBEAT_MS);
    this.#following = () => {
      unsubscribe();
      clearInterval(heartbeat);
      this.#following = undefined;
    };
  }

  #broadcast(frame: string): void {
    for (const res of this.#open) {
      if (res.writableLength < MAX_UNSENT_BYTES) res.write(frame);
    }
  }

}

/**
 * A bulk answer's JSON with its event streams added: the cached part (flags and metadata, which the
 * ETag hashes) is shared by every token, the ticket is each token's own.
 */
export function ofrepBulkEnvelope(cachedJson: string, eventStreams: readonly OfrepEventStream[]): string {
  if (eventStreams.length === 0) return cachedJson;
  return `${cachedJson.slice(0, -1)},"eventStreams":${JSON.stringify(eventStreams)}}`;
}

function ticketMac(tokenHash: string, tokenId: string): string {
  return createHmac('sha256', tokenHash).update(`ofrep-event-stream\n${tokenId}`).digest('base64url');
}

/** A data-only frame: the OFREP web provider listens for unnamed ("message") events. */
function refetchFrame(version: number): string {
  return `data: ${JSON.stringify({ type: 'refetchEvaluation', etag: String(version), flagSetVersion: version })}\n\n`;
}

/** The CORS headers the OFREP middleware chose for this request, repeated on the hand-written head. */
function corsHeadersOf(ctx: Context): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['access-control-allow-origin', 'vary']) {
    const value = ctx.response.get(name);
    if (value) headers[name] = value;
  }
  return headers;
}

const streamQuery = z.object({
  ticket: z.string().min(1).max(256).describe('The ticket from a bulk evaluation\'s eventStreams: EventSource cannot send an Authorization header.'),
});

/** `GET /ofrep/v1/event-stream`: OFREP's event stream (ADR-0008), authenticated by its ticket. */
export function ofrepEventStreamRoutes(streams: OfrepEventStreams, registry: RouteRegistry): Router {
  const router = new Router();
  registry.add(router, {
    method: 'get',
    operationId: 'ofrepEventStream',
    path: OFREP_EVENT_STREAM_PATH,
    tag: 'ofrep',
    summary: 'OFREP event stream (Server-Sent Events): `refetchEvaluation` whenever an answer may have changed.',
    query: streamQuery,
    responses: {
      200: {
        description: 'Server-Sent Events: `data: {"type":"refetchEvaluation","etag":"<flag-set version>","flagSetVersion":<n>}` after every change that can alter an answer, `: keep-alive` comments every 15 s. Past a cap on open streams, 429 too_many_requests (per token) or 503 unavailable (per process).',
        contentType: 'text/event-stream',
        schema: z.string(),
      },
    },
    handler: async (ctx, { query }) => {
      streams.open(ctx, streams.redeem(query.ticket));
    },
  });
  return router;
}
