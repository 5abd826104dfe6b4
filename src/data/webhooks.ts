import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { DatabasePool } from './pool.ts';
import type { Actor } from './actor.ts';
import { flushAppends } from './append-sequencer.ts';
import { sql } from './sql.ts';
import { appendAudit, appendEvent, inWriteTransaction } from './write-transaction.ts';

/** A registered webhook and its delivery state; the secret is never part of it. */
export interface Webhook {
  id: string;
  url: string;
  /** Empty: every event type. */
  eventTypes: string[];
  active: boolean;
  /** The last outbox id the receiver acknowledged (or that did not match `eventTypes`). */
  cursor: number;
  /** Failed attempts at the event after the cursor; 0 while deliveries succeed. */
  attempts: number;
  /** When the next attempt is due after a failure; otherwise when the webhook was last served (already due). */
  nextAttemptAt: string;
  /** The most recent failure, kept after later successes so it can be looked up. */
  lastError: string | null;
  lastErrorAt: string | null;
  lastDeliveredAt: string | null;
  deliveredCount: number;
  failedCount: number;
  createdAt: string;
  createdBy: string;
}

const webhookRow = z.object({
  id: z.string(),
  url: z.string(),
  event_types: z.array(z.string()),
  active: z.boolean(),
  cursor: z.number(),
  attempts: z.number(),
  next_attempt_at: z.number(),
  last_error: z.string().nullable(),
  last_error_at: z.number().nullable(),
  last_delivered_at: z.number().nullable(),
  delivered_count: z.number(),
  failed_count: z.number(),
  created_at: z.number(),
  created_by: z.string(),
});

const webhookColumns = sql.fragment`id, url, event_types, active, cursor, attempts, next_attempt_at, last_error, last_error_at,
  last_delivered_at, delivered_count, failed_count, created_at, created_by`;

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function toWebhook(row: z.infer<typeof webhookRow>): Webhook {
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types,
    active: row.active,
    cursor: row.cursor,
    attempts: row.attempts,
    nextAttemptAt: iso(row.next_attempt_at),
    lastError: row.last_error,
    lastErrorAt: isoOrNull(row.last_error_at),
    lastDeliveredAt: isoOrNull(row.last_delivered_at),
    deliveredCount: row.delivered_count,
    failedCount: row.failed_count,
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
  };
}

/** What audit entries and events say about a webhook: never the secret. */
function publicView(webhook: Pick<Webhook, 'id' | 'url' | 'eventTypes'>) {
  return { id: webhook.id, url: webhook.url, eventTypes: webhook.eventTypes };
}

/**
 * Registers a webhook, with its audit entry and a `webhook.created` event, in one write transaction.
 * Its cursor starts at the newest event committed before it, read under the write lock once the
 * events of writes committed before it are sequenced: it receives every event from its creation on,
 * its own `webhook.created` first.
 */
export async function createWebhook(
  db: DatabasePool,
  input: { url: string; eventTypes: string[]; secret: string; actor: Actor },
): Promise<Webhook> {
  return inWriteTransaction(db, async (tx) => {
    // This write runs alone, so every other write has committed; their events may still wait for
    // their ids, which would then come after the cursor.
    await flushAppends(db);
    const id = `wh_${randomBytes(9).toString('base64url')}`;
    const row = await tx.one(sql.type(webhookRow)`
      INSERT INTO webhooks (id, url, secret, event_types, cursor, created_by)
      VALUES (${id}, ${input.url}, ${input.secret}, ${sql.array(input.eventTypes, 'text')},
              (SELECT coalesce(max(id), 0) FROM outbox), ${input.actor.id})
      RETURNING ${webhookColumns}`);
    const webhook = toWebhook(row);
    await appendAudit(tx, { actor: input.actor, action: 'webhook.created', entityType: 'webhook', entityKey: id, before: null, after: publicView(webhook) });
    await appendEvent(tx, { type: 'webhook.created', entityKey: id, payload: publicView(webhook) });
    return webhook;
  });
}

export async function listWebhooks(db: DatabasePool): Promise<Webhook[]> {
  const rows = await db.any(sql.type(webhookRow)`SELECT ${webhookColumns} FROM webhooks ORDER BY created_at, id`);
  return rows.map(toWebhook);
}

export async function getWebhook(db: DatabasePool, id: string): Promise<Webhook> {
  const row = await db.maybeOne(sql.type(webhookRow)`SELECT ${webhookColumns} FROM webhooks WHERE id = ${id}`);
  if (!row) throw new AppError('not_found', `webhook "${id}" does not exist`);
  return toWebhook(row);
}

/** Removes a webhook (a delivery in flight finds its lease gone and stops), audited, with a `webhook.deleted` event. */
export async function deleteWebhook(db: DatabasePool, input: { id: string; actor: Actor }): Promise<void> {
  await inWriteTransaction(db, async (tx) => {
    const row = await tx.maybeOne(sql.type(webhookRow)`DELETE FROM webhooks WHERE id = ${input.id} RETURNING ${webhookColumns}`);
    if (!row) throw new AppError('not_found', `webhook "${input.id}" does not exist`);
    const webhook = toWebhook(row);
    await appendAudit(tx, { actor: input.actor, action: 'webhook.deleted', entityType: 'webhook', entityKey: input.id, before: publicView(webhook), after: null });
    await appendEvent(tx, { type: 'webhook.deleted', entityKey: input.id, payload: publicView(webhook) });
  });
}

// ── Delivery: used by the dispatcher only ──────────────────────────────────────────────────────

/** A webhook a dispatcher holds the lease of; every update below is fenced by `leaseToken`. */
export interface ClaimedWebhook {
  id: string;
  url: string;
  secret: string;
  eventTypes: string[];
  cursor: number;
  attempts: number;
  leaseToken: string;
}

const claimedRow = z.object({
  id: z.string(),
  url: z.string(),
  secret: z.string(),
  event_types: z.array(z.string()),
  cursor: z.number(),
  attempts: z.number(),
});

/**
 * Claims one active webhook that is due and has events after its cursor, in a single statement (its
 * own short transaction): `FOR UPDATE SKIP LOCKED` keeps two dispatchers from picking the same row at
 * once, and the lease written with it keeps others away until it expires or is released. No
 * transaction stays open during the HTTP call; a dispatcher that dies leaves only a lease to expire.
 */
export async function claimDueWebhook(db: DatabasePool, input: { leaseToken: string; leaseMs: number }): Promise<ClaimedWebhook | null> {
  const row = await db.maybeOne(sql.prepared('webhook_claim', claimedRow)`
    UPDATE webhooks SET lease_token = ${input.leaseToken}, lease_until = now() + ${input.leaseMs}::int * interval '1 millisecond'
    WHERE id = (
      SELECT id FROM webhooks
      WHERE active AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until <= now())
        AND cursor < (SELECT coalesce(max(id), 0) FROM outbox)
      ORDER BY next_attempt_at, id
      LIMIT 1
      FOR UPDATE SKIP LOCKED)
    RETURNING id, url, secret, event_types, cursor, attempts`);
  return row
    ? { id: row.id, url: row.url, secret: row.secret, eventTypes: row.event_types, cursor: row.cursor, attempts: row.attempts, leaseToken: input.leaseToken }
    : null;
}

const updatedRow = z.object({ id: z.string() });

/**
 * Moves the cursor forward (an acknowledged delivery, or events that did not match the filter) and
 * renews the lease. False when the lease is no longer ours (expired and taken, or the webhook was
 * deleted): the caller must stop delivering.
 */
export async function recordWebhookProgress(
  db: DatabasePool,
  input: { id: string; leaseToken: string; cursor: number; delivered: boolean; leaseMs: number },
): Promise<boolean> {
  const row = await db.maybeOne(sql.type(updatedRow)`
    UPDATE webhooks SET
      cursor = greatest(cursor, ${input.cursor}),
      attempts = CASE WHEN ${input.delivered} THEN 0 ELSE attempts END,
      last_delivered_at = CASE WHEN ${input.delivered} THEN now() ELSE last_delivered_at END,
      delivered_count = delivered_count + CASE WHEN ${input.delivered} THEN 1 ELSE 0 END,
      lease_until = now() + ${input.leaseMs}::int * interval '1 millisecond'
    WHERE id = ${input.id} AND lease_token = ${input.leaseToken}
    RETURNING id`);
  return row !== null;
}

/** Records a failed attempt, schedules the next one after `delayMs` and releases the lease. */
export async function recordWebhookFailure(
  db: DatabasePool,
  input: { id: string; leaseToken: string; cursor: number; error: string; delayMs: number },
): Promise<boolean> {
  const row = await db.maybeOne(sql.type(updatedRow)`
    UPDATE webhooks SET
      cursor = greatest(cursor, ${input.cursor}),
      attempts = attempts + 1,
      failed_count = failed_count + 1,
      last_error = ${input.error.slice(0, 1_000)},
      last_error_at = now(),
      next_attempt_at = now() + ${Math.round(input.delayMs)}::int * interval '1 millisecond',
      lease_token = NULL,
      lease_until = NULL
    WHERE id = ${input.id} AND lease_token = ${input.leaseToken}
    RETURNING id`);
  return row !== null;
}

/**
 * Gives the lease back (caught up, turn over, or shutting down), keeping the cursor's progress. The
 * webhook goes to the back of the queue (claims take the longest-due first), so a busy one cannot
 * starve the others when there are more webhooks than concurrent deliveries.
 */
export async function releaseWebhook(db: DatabasePool, input: { id: string; leaseToken: string; cursor: number }): Promise<void> {
  await db.query(sql.typeAlias('void')`
    UPDATE webhooks SET cursor = greatest(cursor, ${input.cursor}), next_attempt_at = now(), lease_token = NULL, lease_until = NULL
    WHERE id = ${input.id} AND lease_token = ${input.leaseToken}`);
}
