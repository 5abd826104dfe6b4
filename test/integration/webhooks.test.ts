import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { actorNamed } from '../../src/data/actor.ts';
import { sql } from '../../src/data/sql.ts';
import { createWebhook, getWebhook, recordWebhookProgress } from '../../src/data/webhooks.ts';
import { startWebhookDispatcher, type RunningDispatcher } from '../../src/events/webhook-dispatcher.ts';
import { verifyWebhookSignature } from '@flagship/sdk/webhooks';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, writeTestEvent, type TestDatabase } from '../support/database.ts';
import { eventually } from '../support/eventually.ts';
import { testLog } from '../support/logger.ts';
import { loopbackOutbound } from '../support/outbound.ts';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from '../support/webhook-receiver.ts';
import type { EventType } from '../../src/domain/event-types.ts';

// The receivers listen on 127.0.0.1, which the embedded default's outbound policy allows.
const FAST = { pollIntervalMs: 50, backoff: { baseMs: 100, maxMs: 400 }, requestTimeoutMs: 1_000, outbound: loopbackOutbound() };

let api: TestApi;
let dispatcher: RunningDispatcher;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  api = await startTestApi({ outbound: FAST.outbound });
  // The real dispatcher, as a worker process runs it, with millisecond backoff.
  dispatcher = startWebhookDispatcher({ db: api.db.pool, log: testLog, ...FAST });
});

afterEach(async () => {
  // Each test's webhooks go with it, so later tests' events do not pile up on closed receivers.
  const { body } = await api.request('GET', '/v1/webhooks');
  for (const webhook of (body as { webhooks: { id: string }[] }).webhooks) await api.request('DELETE', `/v1/webhooks/${webhook.id}`);
  for (const receiver of receivers.splice(0)) await receiver.close();
});

afterAll(async () => {
  await dispatcher.stop();
  await api.close();
});

async function receiver(respond?: Parameters<typeof startWebhookReceiver>[0]): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver(respond);
  receivers.push(started);
  return started;
}

async function register(url: string, eventTypes?: string[]): Promise<{ id: string; secret: string }> {
  const response = await api.request('POST', '/v1/webhooks', { body: { url, ...(eventTypes ? { eventTypes } : {}) } });
  expect(response.status).toBe(201);
  return response.body as { id: string; secret: string };
}

async function writeEvent(db: TestDatabase, type: EventType, entityKey: string, payload: Record<string, unknown> = {}): Promise<number> {
  return writeTestEvent(db.pool, { type, entityKey, payload: { key: entityKey, ...payload } });
}

const acknowledged = (target: WebhookReceiver) => target.requests.filter((request) => request.status >= 200 && request.status < 300);
const eventIds = (requests: ReceivedRequest[]) => requests.map((request) => Number(request.headers['x-flags-event-id']));

describe('webhook registration', () => {
  it('creates a webhook, returns its secret once, and never shows it again', async () => {
    const created = await api.request('POST', '/v1/webhooks', { body: { url: 'http://127.0.0.1:9/hooks/flags', eventTypes: ['flag.*'] } });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/v1/webhooks/${created.body.id}`);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^wh_/), url: 'http://127.0.0.1:9/hooks/flags', eventTypes: ['flag.*'], secret: expect.stringMatching(/^whsec_/), active: true, attempts: 0, lastError: null });

    const one = await api.request('GET', `/v1/webhooks/${created.body.id}`);
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty('secret');
    expect(one.body).toMatchObject({ id: created.body.id, cursor: expect.any(Number), attempts: 0, lastError: null, nextAttemptAt: expect.any(String) });

    const list = await api.request('GET', '/v1/webhooks');
    expect(list.body.webhooks.map((webhook: { id: string }) => webhook.id)).toContain(created.body.id);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
  });

  it('audits creation and deletion without the secret, and emits webhook.created and webhook.deleted', async () => {
    const created = await register('http://127.0.0.1:9/audited');
    expect((await api.request('DELETE', `/v1/webhooks/${created.id}`)).status).toBe(204);
    expect((await api.request('GET', `/v1/webhooks/${created.id}`)).status).toBe(404);

    const audit = await api.db.pool.any(sql.type(z.object({ action: z.string(), actor: z.string(), before: z.unknown(), after: z.unknown() }))`
      SELECT action, actor, before, after FROM audit_log WHERE entity_type = 'webhook' AND entity_key = ${created.id} ORDER BY id`);
    expect(audit.map((entry) => entry.action)).toEqual(['webhook.created', 'webhook.deleted']);
    expect(audit[0]).toMatchObject({ actor: 'admin', before: null, after: { id: created.id, url: 'http://127.0.0.1:9/audited', eventTypes: [] } });
    expect(audit[1]).toMatchObject({ before: { id: created.id }, after: null });
    expect(JSON.stringify(audit)).not.toContain(created.secret);

    const events = await api.db.pool.any(sql.type(z.object({ type: z.string(), payload: z.unknown() }))`
      SELECT type, payload FROM outbox WHERE entity_key = ${created.id} ORDER BY id`);
    expect(events.map((event) => event.type)).toEqual(['webhook.created', 'webhook.deleted']);
    expect(JSON.stringify(events)).not.toContain(created.secret);
  });

  it('starts a new webhook at the newest event: it receives what comes after its creation, its own webhook.created first', async () => {
    await writeEvent(api.db, 'flag.updated', 'before-the-webhook');
    const target = await receiver();
    const { id } = await register(target.url);
    const after = await writeEvent(api.db, 'flag.updated', 'after-the-webhook');
    await eventually(() => acknowledged(target).length === 2, Boolean, 10_000);
    expect(acknowledged(target).map((request) => request.headers['x-flags-event-type'])).toEqual(['webhook.created', 'flag.updated']);
    expect(eventIds(acknowledged(target))[1]).toBe(after);
    await eventually(async () => (await api.request('GET', `/v1/webhooks/${id}`)).body.cursor === after, Boolean, 10_000);
  });

  it('rejects a bad url or event type with a validation_error naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ url: 'not a url' }, 'url'],
      [{ url: 'ftp://example.com/hook' }, 'url'],
      [{}, 'url'],
      [{ url: 'https://example.com/hook', eventTypes: ['flag.updated', 'Flag Updated!'] }, 'eventTypes[1]'],
      [{ url: 'https://example.com/hook', eventTypes: 'flag.updated' }, 'eventTypes'],
    ];
    for (const [body, path] of cases) {
      const response = await api.request('POST', '/v1/webhooks', { body });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_error');
      expect(response.body.error.details.issues.map((issue: { path: string }) => issue.path)).toContain(path);
    }
    const unknownField = await api.request('POST', '/v1/webhooks', { body: { url: 'https://example.com/hook', secret: 'mine' } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.code).toBe('validation_error');
  });

  it('answers 404 not_found for an unknown webhook', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await api.request(method, '/v1/webhooks/wh_nope');
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('not_found');
    }
  });

  it('documents the webhook and event routes in the OpenAPI document', async () => {
    const { body } = await api.request('GET', '/openapi.json', { token: null });
    const paths = body.paths as Record<string, Record<string, { 'x-required-scope'?: string; parameters?: { name: string }[] }>>;
    expect(paths['/v1/webhooks']?.post?.['x-required-scope']).toBe('feature_flag:admin');
    expect(Object.keys(paths['/v1/webhooks/{id}'] ?? {}).sort()).toEqual(['delete', 'get']);
    expect(paths['/v1/events']?.get?.['x-required-scope']).toBe('feature_flag:manage');
    expect(paths['/v1/events']?.get?.parameters?.map((parameter) => parameter.name).sort()).toEqual(['after', 'types']);
  });

  it('requires the admin scope', async () => {
    const secret = (await api.request('POST', '/v1/tokens', { body: { name: 'manager', owner: { id: 'manager' }, scopes: ['feature_flag:manage'] } })).body.token as string;
    expect((await api.request('POST', '/v1/webhooks', { body: { url: 'https://example.com/x' }, token: secret })).status).toBe(403);
    expect((await api.request('GET', '/v1/webhooks', { token: secret })).body.error.code).toBe('permission_denied');
    expect((await api.request('GET', '/v1/webhooks', { token: null })).status).toBe(401);
  });
});

describe('webhook delivery', () => {
  it('retries a receiver that fails twice, then delivers that event and the later ones in order, signed', async () => {
    const target = await receiver((_request, index) => (index < 2 ? 500 : 200));
    const { id, secret } = await register(target.url, ['flag.*']);
    const written = [
      await writeEvent(api.db, 'flag.created', 'checkout', { version: 1 }),
      await writeEvent(api.db, 'flag.updated', 'checkout', { version: 2 }),
      await writeEvent(api.db, 'flag.updated', 'checkout', { version: 3 }),
    ];
    await eventually(() => acknowledged(target).length === 3, Boolean, 10_000);
    await eventually(async () => (await api.request('GET', `/v1/webhooks/${id}`)).body.cursor === written[2], Boolean, 10_000);
    // A fence: an event of a type the webhook did not ask for. Once the cursor has moved past it,
    // the dispatcher has sent all it was going to send for the events before it.
    const fence = await writeEvent(api.db, 'segment.updated', 'fence');
    await eventually(async () => (await api.request('GET', `/v1/webhooks/${id}`)).body.cursor === fence, Boolean, 10_000);

    // The first event three times (500, 500, 200), then each later one once, in outbox order.
    expect(eventIds(target.requests)).toEqual([written[0], written[0], written[0], written[1], written[2]]);
    expect(target.requests.map((request) => request.status)).toEqual([500, 500, 200, 200, 200]);
    // Backoff: a retry waits at least half its nominal delay (100 ms, then 200 ms).
    expect(target.requests[1]!.receivedAt - target.requests[0]!.receivedAt).toBeGreaterThanOrEqual(45);
    expect(target.requests[2]!.receivedAt - target.requests[1]!.receivedAt).toBeGreaterThanOrEqual(95);

    for (const request of target.requests) {
      expect(verifyWebhookSignature(secret, request.headers['x-flags-signature'] as string, request.body)).toEqual({ ok: true, timestamp: expect.any(Number) });
      expect(verifyWebhookSignature('whsec_wrong', request.headers['x-flags-signature'] as string, request.body)).toEqual({ ok: false, reason: 'mismatch' });
      const body = JSON.parse(request.body) as { id: number; type: string; entityKey: string; at: string; payload: Record<string, unknown> };
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['x-flags-event-id']).toBe(String(body.id));
      expect(request.headers['x-flags-event-type']).toBe(body.type);
      expect(request.headers['x-flags-webhook-id']).toBe(id);
      expect(body).toEqual({ id: body.id, type: body.type, entityKey: 'checkout', at: expect.any(String), payload: expect.objectContaining({ key: 'checkout' }) });
    }
    expect(acknowledged(target).map((request) => (JSON.parse(request.body) as { payload: { version: number } }).payload.version)).toEqual([1, 2, 3]);

    const state = await api.request('GET', `/v1/webhooks/${id}`);
    expect(state.body).toMatchObject({ cursor: fence, attempts: 0, failedCount: 2, deliveredCount: 3, lastError: 'HTTP 500', lastErrorAt: expect.any(String), lastDeliveredAt: expect.any(String) });
  });

  it('records attempts, the last error and the next attempt while a receiver keeps failing', async () => {
    const target = await receiver(() => 503);
    const { id } = await register(target.url, ['flag.*']);
    const eventId = await writeEvent(api.db, 'flag.updated', 'down');
    await eventually(async () => (await api.request('GET', `/v1/webhooks/${id}`)).body.attempts >= 3, Boolean, 10_000);
    const state = (await api.request('GET', `/v1/webhooks/${id}`)).body;
    expect(state).toMatchObject({ cursor: eventId - 1, lastError: 'HTTP 503', deliveredCount: 0 });
    expect(state.failedCount).toBe(state.attempts);
    expect(Date.parse(state.nextAttemptAt)).toBeGreaterThan(Date.parse(state.lastErrorAt));
    expect(new Set(eventIds(target.requests))).toEqual(new Set([eventId]));
  });

  it('counts a receiver that does not answer within the timeout as a failure', async () => {
    const target = await receiver((_request, index) => (index === 0 ? 'hang' : 200));
    const { id } = await register(target.url, ['flag.*']);
    const eventId = await writeEvent(api.db, 'flag.updated', 'slow');
    await eventually(() => acknowledged(target).length === 1, Boolean, 10_000);
    expect(eventIds(target.requests)).toEqual([eventId, eventId]);
    // The receiver has answered; the dispatcher records the acknowledgement just after.
    await eventually(async () => (await api.request('GET', `/v1/webhooks/${id}`)).body.cursor === eventId, Boolean, 10_000);
    const state = (await api.request('GET', `/v1/webhooks/${id}`)).body;
    expect(state).toMatchObject({ cursor: eventId, attempts: 0, failedCount: 1, lastError: 'timed out after 1000 ms' });
  });

  it('sends only the event types a webhook asked for, and moves its cursor past the others', async () => {
    const target = await receiver();
    const { id } = await register(target.url, ['segment.*', 'flag.archived']);
    await writeEvent(api.db, 'flag.created', 'filtered');
    const segment = await writeEvent(api.db, 'segment.created', 'beta');
    await writeEvent(api.db, 'flag.updated', 'filtered');
    const archived = await writeEvent(api.db, 'flag.archived', 'filtered');
    const last = await writeEvent(api.db, 'token.created', 'tok');
    await eventually(async () => (await api.request('GET', `/v1/webhooks/${id}`)).body.cursor === last, Boolean, 10_000);
    expect(eventIds(target.requests)).toEqual([segment, archived]);
  });

  it('stops delivering to a deleted webhook', async () => {
    const target = await receiver();
    const { id } = await register(target.url, ['flag.*']);
    // The fence: a webhook that stays, which the same dispatcher serves.
    const witness = await receiver();
    await register(witness.url, ['flag.*']);
    await writeEvent(api.db, 'flag.updated', 'deleted');
    await eventually(() => target.requests.length === 1 && witness.requests.length === 1, Boolean, 10_000);
    expect((await api.request('DELETE', `/v1/webhooks/${id}`)).status).toBe(204);
    const later = await writeEvent(api.db, 'flag.updated', 'deleted');
    await eventually(() => eventIds(acknowledged(witness)).includes(later), Boolean, 10_000);
    expect(target.requests).toHaveLength(1);
  });
});

describe('several dispatchers', () => {
  let db: TestDatabase;
  const running: RunningDispatcher[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    for (const each of running) await each.stop();
    await db.drop();
  });

  it('never deliver to one webhook concurrently, and deliver every event exactly once, in order, when all goes well', async () => {
    const targets = await Promise.all([1, 2, 3].map(() => receiver(() => ({ status: 200, delayMs: 5 }))));
    for (const target of targets) await createWebhook(db.pool, { url: target.url, eventTypes: ['flag.*'], secret: 'whsec_test', actor: actorNamed('test') });
    for (let index = 0; index < 3; index += 1) running.push(startWebhookDispatcher({ db: db.pool, log: testLog, ...FAST, concurrency: 3 }));
    const written: number[] = [];
    for (let index = 0; index < 40; index += 1) written.push(await writeEvent(db, 'flag.updated', `flag-${index % 4}`, { index }));
    await eventually(() => targets.every((target) => acknowledged(target).length >= written.length), Boolean, 20_000);
    // A fence: a repeat of any earlier event would reach its receiver before this one.
    const fence = await writeEvent(db, 'flag.updated', 'fence');
    await eventually(() => targets.every((target) => eventIds(acknowledged(target)).includes(fence)), Boolean, 20_000);
    for (const target of targets) {
      expect(target.maxInFlight).toBe(1);
      expect(eventIds(target.requests)).toEqual([...written, fence]);
    }
  });

  it('redeliver after a dispatcher dies mid-delivery: its lease expires, nothing is lost, and its late acknowledgement is refused', async () => {
    const target = await receiver();
    const webhook = await createWebhook(db.pool, { url: target.url, eventTypes: ['flag.*'], secret: 'whsec_test', actor: actorNamed('test') });
    // Its own webhook.created event lies after its cursor: the running dispatchers claim it, pass
    // over that event and release it. Only then may the crashed lease below stand for the only one.
    await eventually(async () => (await getWebhook(db.pool, webhook.id)).cursor > webhook.cursor, Boolean, 10_000);
    // A dispatcher claimed the webhook for 800 ms, sent the event and died before the cursor moved.
    await db.pool.query(sql.typeAlias('void')`
      UPDATE webhooks SET lease_token = 'crashed', lease_until = now() + interval '800 milliseconds' WHERE id = ${webhook.id}`);
    const eventId = await writeEvent(db, 'flag.updated', 'crash');
    const written = Date.now();
    await eventually(() => acknowledged(target).length === 1, Boolean, 10_000);
    expect(Date.now() - written).toBeGreaterThanOrEqual(600);
    expect(eventIds(target.requests)).toEqual([eventId]);
    await eventually(async () => (await getWebhook(db.pool, webhook.id)).cursor === eventId, Boolean, 10_000);

    // The dead dispatcher comes back and tries to acknowledge with its old lease: refused.
    expect(await recordWebhookProgress(db.pool, { id: webhook.id, leaseToken: 'crashed', cursor: eventId + 100, delivered: true, leaseMs: 1_000 })).toBe(false);
    expect((await getWebhook(db.pool, webhook.id)).cursor).toBe(eventId);
  });
});

describe('a dispatcher on its own', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db.drop();
  });

  it('wakes on NOTIFY through its own LISTEN connection, long before its poll interval', async () => {
    const target = await receiver();
    await createWebhook(db.pool, { url: target.url, eventTypes: ['flag.*'], secret: 'whsec_test', actor: actorNamed('test') });
    const slowPoll = startWebhookDispatcher({ db: db.pool, log: testLog, ...FAST, pollIntervalMs: 60_000 });
    try {
      await eventually(async () => (await db.pool.oneFirst(sql.type(z.object({ count: z.number() }))`
        SELECT count(*)::int AS count FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'flags-change-feed' AND query LIKE 'LISTEN%'`)) === 1, Boolean, 10_000);
      const started = Date.now();
      await writeEvent(db, 'flag.updated', 'notified');
      await eventually(() => acknowledged(target).length === 1, Boolean, 10_000);
      // Well under the minute-long poll interval: the NOTIFY woke it (typically within tens of ms).
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await slowPoll.stop();
    }
  });

  it('stops promptly while a request hangs, leaving the event unacknowledged and the webhook free for the next dispatcher', async () => {
    const target = await receiver((_request, index) => (index === 0 ? 'hang' : 200));
    const webhook = await createWebhook(db.pool, { url: target.url, eventTypes: ['flag.*'], secret: 'whsec_test', actor: actorNamed('test') });
    const first = startWebhookDispatcher({ db: db.pool, log: testLog, ...FAST, requestTimeoutMs: 10_000 });
    const eventId = await writeEvent(db, 'flag.updated', 'shutdown');
    await eventually(() => target.requests.length === 1, Boolean, 10_000);
    const stopping = Date.now();
    await first.stop();
    expect(Date.now() - stopping).toBeLessThan(1_000);
    const state = await getWebhook(db.pool, webhook.id);
    expect(state).toMatchObject({ cursor: eventId - 1, attempts: 0, failedCount: 0 });

    const second = startWebhookDispatcher({ db: db.pool, log: testLog, ...FAST });
    try {
      await eventually(() => acknowledged(target).length === 1, Boolean, 10_000);
      expect(eventIds(target.requests)).toEqual([eventId, eventId]);
    } finally {
      await second.stop();
    }
  });
});
