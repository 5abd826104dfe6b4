import { randomBytes } from 'node:crypto';
import { readOutboxAfter, type OutboxEvent } from '../data/outbox.ts';
import type { DatabasePool } from '../data/pool.ts';
import {
  claimDueWebhook,
  recordWebhookFailure,
  recordWebhookProgress,
  releaseWebhook,
  type ClaimedWebhook,
} from '../data/webhooks.ts';
import type { Logger } from '../log.ts';
import { createChangeFeed, type ChangeFeed } from './change-feed.ts';
import { matchesEventType } from './event-types.ts';
import { signWebhookPayload } from './webhook-signature.ts';
import { Wakeup } from './wakeup.ts';

export interface RunningDispatcher {
  stop(): Promise<void>;
}

export interface BackoffOptions {
  /** Delay after the first failure; doubles with each further failure. */
  baseMs: number;
  /** Upper bound of the delay. */
  maxMs: number;
}

export interface WebhookDispatcherOptions {
  db: DatabasePool;
  log: Logger;
  /** Wake-ups on NOTIFY; without one the dispatcher opens its own LISTEN connection (and closes it on stop). */
  changeFeed?: ChangeFeed;
  /** Safety-net poll when no NOTIFY arrives. */
  pollIntervalMs?: number;
  backoff?: BackoffOptions;
  /** Per request; a receiver slower than this has failed the attempt. */
  requestTimeoutMs?: number;
  /** How long a claim keeps other dispatchers away; renewed on every acknowledgement. */
  leaseMs?: number;
  /** Webhooks delivered to at the same time by this process (one request in flight per webhook). */
  concurrency?: number;
  /** Events read from the outbox per query. */
  batchSize?: number;
  /** Deliveries per claim before the webhook is handed back, so a busy one cannot starve the rest. */
  maxDeliveriesPerClaim?: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, maxMs: 5 * 60_000 };

/**
 * Exponential backoff with "equal jitter": half the exponential delay is fixed, half random, so
 * receivers that failed together do not all retry in the same instant, and the delay never drops
 * below half its nominal value. `attempt` counts failures so far (1 after the first).
 */
export function backoffDelay(attempt: number, backoff: BackoffOptions, random: () => number = Math.random): number {
  const nominal = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}

/**
 * Delivers outbox events to every active webhook, in outbox order, at least once.
 *
 * - Order: each webhook has a cursor, the last outbox id its receiver acknowledged. Events go out
 *   one at a time after the cursor; one that fails is retried (with backoff) before anything later,
 *   so a receiver sees a flag's changes, and everything else, in commit order.
 * - At least once: the cursor moves only after a 2xx. A crash between the request and the cursor
 *   update means the event is sent again, never skipped. Receivers deduplicate on `X-Flags-Event-Id`.
 * - Several dispatchers (one per worker process): a webhook is claimed with a lease (see
 *   claimDueWebhook); every later update is fenced by the lease token, so a dispatcher whose lease
 *   expired while it stalled cannot move the cursor. No transaction is open during a request.
 */
export function startWebhookDispatcher(options: WebhookDispatcherOptions): RunningDispatcher {
  const { db, log } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
  const leaseMs = Math.max(options.leaseMs ?? 60_000, requestTimeoutMs * 3);
  const concurrency = options.concurrency ?? 4;
  const batchSize = options.batchSize ?? 100;
  const maxDeliveriesPerClaim = options.maxDeliveriesPerClaim ?? 500;

  const wakeup = new Wakeup();
  const stopping = new AbortController();
  const retryTimers = new Set<NodeJS.Timeout>();
  const ownFeed = options.changeFeed ? undefined : createChangeFeed({ databaseUrl: db.configuration.connectionUri, log });
  const feed = options.changeFeed ?? ownFeed;
  const unsubscribe = feed?.subscribe(() => wakeup.wake());

  /** Wakes the loops when a failed webhook's next attempt is due, rather than at the next poll. */
  const wakeAfter = (delayMs: number) => {
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      wakeup.wake();
    }, delayMs + 5);
    timer.unref();
    retryTimers.add(timer);
  };

  /** Claims one due webhook and delivers what it can; false when nothing was due (or the run failed). */
  async function serveOne(): Promise<boolean> {
    const webhook = await claimDueWebhook(db, { leaseToken: randomBytes(12).toString('base64url'), leaseMs });
    if (!webhook) return false;
    let cursor = webhook.cursor;
    let attempts = webhook.attempts;
    let leaseDeadline = Date.now() + leaseMs;
    let delivered = 0;
    try {
      while (!stopping.signal.aborted && delivered < maxDeliveriesPerClaim) {
        const events = await readOutboxAfter(db, cursor, batchSize);
        if (events.length === 0) break;
        for (const event of events) {
          if (stopping.signal.aborted) break;
          if (!matchesEventType(webhook.eventTypes, event.type)) {
            cursor = event.id;
            continue;
          }
          // Never start a request that could outlive the lease: renew it first (this also saves
          // the progress made over filtered-out events).
          if (Date.now() + requestTimeoutMs * 2 > leaseDeadline) {
            if (!(await recordWebhookProgress(db, { id: webhook.id, leaseToken: webhook.leaseToken, cursor, delivered: false, leaseMs }))) return true;
            leaseDeadline = Date.now() + leaseMs;
          }
          const failure = await deliver(webhook, event);
          if (failure === undefined) {
            const stillOurs = await recordWebhookProgress(db, { id: webhook.id, leaseToken: webhook.leaseToken, cursor: event.id, delivered: true, leaseMs });
            if (!stillOurs) {
              log.warn({ webhookId: webhook.id, eventId: event.id }, 'webhook lease lost (deleted, or taken over after expiry); stopping this delivery run');
              return true;
            }
            cursor = event.id;
            leaseDeadline = Date.now() + leaseMs;
            delivered += 1;
            attempts = 0;
            continue;
          }
          if (stopping.signal.aborted) break;
          const attempt = attempts + 1;
          const delayMs = backoffDelay(attempt, backoff);
          log.warn({ webhookId: webhook.id, eventId: event.id, eventType: event.type, attempt, retryInMs: delayMs, error: failure }, 'webhook delivery failed');
          await recordWebhookFailure(db, { id: webhook.id, leaseToken: webhook.leaseToken, cursor, error: failure, delayMs });
          wakeAfter(delayMs);
          return true;
        }
        if (events.length < batchSize) break;
      }
      await releaseWebhook(db, { id: webhook.id, leaseToken: webhook.leaseToken, cursor });
      return true;
    } catch (error) {
      // The lease expires on its own if this release fails too; the next claim redelivers from the
      // last acknowledged cursor, so nothing is lost.
      log.error({ err: error, webhookId: webhook.id }, 'webhook delivery run failed');
      await releaseWebhook(db, { id: webhook.id, leaseToken: webhook.leaseToken, cursor }).catch(() => undefined);
      // Treated as idle, so a database that is down is retried once per poll interval, not in a tight loop.
      return false;
    }
  }

  /** One POST; undefined when the receiver acknowledged with a 2xx, otherwise why not. */
  async function deliver(webhook: ClaimedWebhook, event: OutboxEvent): Promise<string | undefined> {
    const body = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(requestTimeoutMs), stopping.signal]),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'flags-webhooks/1',
          'x-flags-event-id': String(event.id),
          'x-flags-event-type': event.type,
          'x-flags-webhook-id': webhook.id,
          'x-flags-signature': signWebhookPayload(webhook.secret, timestamp, body),
        },
        body,
      });
      const excerpt = await readExcerpt(response);
      if (response.status >= 200 && response.status < 300) return undefined;
      return `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`;
    } catch (error) {
      // Checked by name, not instanceof: an abort reason is a DOMException, which may come from another realm.
      const { name, message, cause } = (error ?? {}) as { name?: string; message?: string; cause?: { message?: string } };
      if (name === 'TimeoutError' || name === 'AbortError') {
        return stopping.signal.aborted ? 'dispatcher stopping' : `timed out after ${requestTimeoutMs} ms`;
      }
      return `${message ?? String(error)}${cause?.message ? `: ${cause.message}` : ''}`;
    }
  }

  async function loop(): Promise<void> {
    while (!stopping.signal.aborted) {
      const seen = wakeup.generation;
      let worked = false;
      try {
        worked = await serveOne();
      } catch (error) {
        log.error({ err: error }, 'webhook dispatcher could not claim a webhook');
      }
      if (!worked && !stopping.signal.aborted) await wakeup.wait(seen, pollIntervalMs);
    }
  }

  const loops = Array.from({ length: concurrency }, () => loop());
  log.debug({ concurrency, pollIntervalMs }, 'webhook dispatcher started');

  return {
    async stop() {
      stopping.abort();
      unsubscribe?.();
      for (const timer of retryTimers) clearTimeout(timer);
      wakeup.wake();
      await Promise.all(loops);
      await ownFeed?.close();
    },
  };
}

/** The first bytes of a response body, for the error message; the rest is discarded unread. */
async function readExcerpt(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < 200) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, 200).replace(/\s+/g, ' ').trim();
}
