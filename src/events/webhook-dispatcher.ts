import { randomBytes } from 'node:crypto';
import { isDatabaseUnavailable } from '../data/database-errors.ts';
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
import { OutboundError, type OutboundClient } from '../outbound/outbound-client.ts';
import { createChangeFeed, type ChangeFeed } from './change-feed.ts';
import { matchesEventType } from './event-types.ts';
import { SIGNATURE_HEADER, signWebhookPayload } from '@flagship/sdk/webhooks';
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
  /** Makes the POSTs, under the operator's outbound policy. */
  outbound: OutboundClient;
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
  const { db, log, outbound } = options;
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
  // One loop looks for a due webhook per notice; a loop that claims one wakes the next (serveOne),
  // so a burst of changes costs one claim query per notice, not one per loop.
  const unsubscribe = feed?.subscribe(() => wakeup.wakeOne());

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
    // Another webhook may be due as well: one more loop looks while this one delivers.
    wakeup.wakeOne();
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

  /**
   * One POST; undefined when the receiver acknowledged with a 2xx, otherwise why not. The reason
   * names the status, the timeout or the refusal, never what the receiver wrote back: an admin reads
   * it, and a webhook must not become a way to read what an internal URL answers.
   */
  async function deliver(webhook: ClaimedWebhook, event: OutboxEvent): Promise<string | undefined> {
    const body = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await outbound.request(webhook.url, {
        method: 'POST',
        timeoutMs: requestTimeoutMs,
        signal: stopping.signal,
        maxBodyBytes: 0,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'flags-webhooks/1',
          'x-flags-event-id': String(event.id),
          'x-flags-event-type': event.type,
          'x-flags-webhook-id': webhook.id,
          [SIGNATURE_HEADER]: signWebhookPayload(webhook.secret, timestamp, body),
        },
        body,
      });
      if (response.status >= 200 && response.status < 300) return undefined;
      return response.status >= 300 && response.status < 400 ? `HTTP ${response.status} (redirects are not followed)` : `HTTP ${response.status}`;
    } catch (error) {
      if (!(error instanceof OutboundError)) return 'the request failed';
      if (error.kind === 'aborted') return 'dispatcher stopping';
      if (error.kind === 'refused') log.warn({ webhookId: webhook.id, category: error.detail }, 'webhook URL refused by the outbound policy');
      return error.message;
    }
  }

  /** Whether the loops are in a database outage: logged once when it starts, not once per poll of every loop. */
  let databaseAway = false;

  async function loop(): Promise<void> {
    while (!stopping.signal.aborted) {
      const seen = wakeup.generation;
      let worked = false;
      try {
        worked = await serveOne();
        databaseAway = false;
      } catch (error) {
        if (!isDatabaseUnavailable(error)) log.error({ err: error }, 'webhook dispatcher could not claim a webhook');
        else if (!databaseAway) log.warn({ err: error }, 'webhook dispatcher cannot reach PostgreSQL; deliveries resume when it answers');
        databaseAway ||= isDatabaseUnavailable(error);
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
