import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import type { Scope } from '../../src/data/tokens.ts';
import { sql } from '../../src/data/sql.ts';
import type { ChangeNotice } from '../../src/data/write-transaction.ts';
import { writeTestEvent } from '../support/database.ts';
import { createChangeFeed, type ChangeFeed } from '../../src/events/change-feed.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { testLog } from '../support/logger.ts';
import { openSse, type SseConnection } from '../support/sse-client.ts';
import type { EventType } from '../../src/domain/event-types.ts';

let api: TestApi;
const open: SseConnection[] = [];

beforeAll(async () => {
  api = await startTestApi();
});

afterAll(async () => {
  for (const connection of open) connection.close();
  await api.close();
});

/** Writes one event the way every write path does (the flags API produces the same rows). */
async function writeEvent(type: EventType, entityKey: string, payload: Record<string, unknown> = {}): Promise<number> {
  return writeTestEvent(api.db.pool, { type, entityKey, payload: { key: entityKey, ...payload } });
}

async function stream(query = '', options: { token?: string | null; lastEventId?: string } = {}): Promise<SseConnection> {
  const connection = await openSse(`${api.baseUrl}/v1/events${query}`, { token: options.token === undefined ? api.adminToken : options.token, ...(options.lastEventId === undefined ? {} : { lastEventId: options.lastEventId }) });
  open.push(connection);
  return connection;
}

async function createToken(scopes: Scope[]): Promise<string> {
  const created = await api.request('POST', '/v1/tokens', { body: { name: `limited-${randomBytes(4).toString('hex')}`, owner: { id: 'events-test', kind: 'service' }, scopes } });
  if (created.status !== 201) throw new Error(`creating a token: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.token as string;
}

const ids = (connection: SseConnection) => connection.events.map((event) => Number(event.id));

/**
 * Writes a sentinel event and waits until the stream has sent it: whatever the stream was going to
 * send before it (a repeat, an event it should have filtered out) has been sent by then.
 */
async function fence(connection: SseConnection, type: EventType = 'flag.updated'): Promise<number> {
  const sentinel = await writeEvent(type, 'fence');
  await eventually(() => ids(connection), (seen) => seen.includes(sentinel), 5_000);
  return sentinel;
}

describe('GET /v1/events', () => {
  it('sends each event with its outbox id, type and {id, type, entityKey, at, payload} data', async () => {
    const connection = await stream();
    expect(connection.status).toBe(200);
    expect(connection.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(connection.headers['cache-control']).toBe('no-cache');
    expect(connection.headers['x-accel-buffering']).toBe('no');
    const id = await writeEvent('flag.created', 'shape-check', { version: 1 });
    const [event] = await connection.waitForEvents(1);
    expect(event).toEqual({ id: String(id), event: 'flag.created', data: expect.any(String) });
    const data = JSON.parse(event!.data) as Record<string, unknown>;
    expect(data).toEqual({ id, type: 'flag.created', entityKey: 'shape-check', at: expect.any(String), payload: { key: 'shape-check', version: 1 } });
    expect(Number.isNaN(Date.parse(data.at as string))).toBe(false);
    connection.close();
  });

  it('resumes with Last-Event-ID after a drop: exactly the missed events, then live ones, none missed or repeated', async () => {
    const before = [await writeEvent('flag.created', 'resume-a'), await writeEvent('flag.updated', 'resume-a'), await writeEvent('flag.updated', 'resume-a')];
    const first = await stream(`?after=${before[0]! - 1}`);
    await first.waitForEvents(3);
    const live = [await writeEvent('flag.updated', 'resume-a'), await writeEvent('flag.archived', 'resume-a')];
    await first.waitForEvents(5);
    expect(ids(first)).toEqual([...before, ...live]);
    first.close();

    const missed: number[] = [];
    for (let index = 0; index < 7; index += 1) missed.push(await writeEvent('flag.updated', `resume-${index % 2}`, { index }));

    // EventSource keeps its original URL (here ?after=0) and adds Last-Event-ID: the header wins.
    const second = await stream('?after=0', { lastEventId: first.events.at(-1)!.id! });
    await second.waitForEvents(missed.length);
    const later = [await writeEvent('flag.restored', 'resume-a'), await writeEvent('segment.created', 'beta')];
    await second.waitForEvents(missed.length + later.length);
    const sentinel = await fence(second);
    expect(ids(second)).toEqual([...missed, ...later, sentinel]);
    expect(second.events.map((event) => event.event)).toEqual([...missed.map(() => 'flag.updated'), 'flag.restored', 'segment.created', 'flag.updated']);
    second.close();
  });

  it('replays from ?after= for clients that cannot send headers', async () => {
    const id = await writeEvent('segment.updated', 'after-query');
    const connection = await stream(`?after=${id - 1}`);
    const [event] = await connection.waitForEvents(1);
    expect(Number(event!.id)).toBe(id);
    connection.close();
  });

  it('starts at the live tail without a resume point, and delivers a new event within a second', async () => {
    await writeEvent('flag.updated', 'old-news');
    const connection = await stream();
    const rounds: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      const started = Date.now();
      rounds.push(await writeEvent('flag.updated', 'latency', { round }));
      await connection.waitForEvents(round + 1, 2_000);
      expect(Date.now() - started).toBeLessThan(1_000);
    }
    // The first round's event is the fence: nothing older came before it.
    expect(ids(connection)).toEqual(rounds);
    connection.close();
  });

  it('filters by ?types=, with families such as segment.*', async () => {
    const start = (await writeEvent('flag.updated', 'filter-start')) ;
    const connection = await stream(`?after=${start}&types=flag.created,segment.*`);
    const created = await writeEvent('flag.created', 'filter');
    await writeEvent('flag.updated', 'filter');
    const segment = await writeEvent('segment.deleted', 'filter');
    await writeEvent('token.created', 'filter');
    const again = await writeEvent('flag.created', 'filter-2');
    await connection.waitForEvents(3);
    const sentinel = await fence(connection, 'flag.created');
    expect(ids(connection)).toEqual([created, segment, again, sentinel]);
    connection.close();

    // Resuming a filtered stream from the last id it saw skips nothing that matches.
    const resumed = await stream('?types=flag.created,segment.*', { lastEventId: String(created) });
    await resumed.waitForEvents(3);
    expect(ids(resumed)).toEqual([segment, again, sentinel]);
    resumed.close();
  });

  it('keeps streaming when the LISTEN connection is dropped underneath it', async () => {
    const connection = await stream();
    // In the select list, not the WHERE clause: the planner may call a WHERE function on any row.
    const dropped = (await api.db.pool.any(sql.type(z.object({ pid: z.number(), terminated: z.boolean() }))`
      SELECT pid, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
      WHERE application_name = 'flags-change-feed' AND datname = current_database()`)).map((row) => row.pid);
    expect(dropped.length).toBeGreaterThan(0);
    // The event is written once the listener is gone, so only the reconnect's catch-up can find it.
    await eventually(() => api.db.pool.oneFirst(sql.type(z.object({ alive: z.number() }))`
      SELECT count(*)::int AS alive FROM pg_stat_activity WHERE pid = ANY(${sql.array(dropped, 'int4')})`), (alive) => alive === 0, 5_000);
    const started = Date.now();
    await writeEvent('flag.updated', 'after-drop');
    await connection.waitForEvents(1, 4_000);
    // Reconnect (500 ms) and catch-up, well before the 5 s safety poll would have found it.
    expect(Date.now() - started).toBeLessThan(2_500);
    const wokeAgain = Date.now();
    await writeEvent('flag.updated', 'after-drop');
    await connection.waitForEvents(2, 2_000);
    expect(Date.now() - wokeAgain).toBeLessThan(1_000);
    connection.close();
  });

  it('answers 401 without a token, 403 without the manage scope, 200 with it', async () => {
    const anonymous = await stream('', { token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.errorBody).toMatchObject({ error: { code: 'unauthenticated' } });

    const evaluateOnly = await stream('', { token: await createToken(['feature_flag:evaluate']) });
    expect(evaluateOnly.status).toBe(403);
    expect(evaluateOnly.errorBody).toMatchObject({ error: { code: 'permission_denied' } });

    const manager = await stream('', { token: await createToken(['feature_flag:manage']) });
    expect(manager.status).toBe(200);
    manager.close();
  });

  it('rejects a malformed Last-Event-ID, after or types with a validation_error naming it', async () => {
    const badHeader = await stream('', { lastEventId: 'abc' });
    expect(badHeader.status).toBe(400);
    expect(badHeader.errorBody).toMatchObject({ error: { code: 'validation_error', details: { issues: [{ path: 'Last-Event-ID' }] } } });

    const badAfter = await stream('?after=-1');
    expect(badAfter.status).toBe(400);
    expect(badAfter.errorBody).toMatchObject({ error: { code: 'validation_error', details: { issues: [{ path: 'after' }] } } });

    const badTypes = await stream('?types=flag.updated,Not%20A%20Type');
    expect(badTypes.status).toBe(400);
    expect(badTypes.errorBody).toMatchObject({ error: { code: 'validation_error', details: { issues: [{ path: 'types[1]' }] } } });
  });
});

describe('the change feed', () => {
  let feed: ChangeFeed;

  beforeAll(async () => {
    feed = createChangeFeed({ databaseUrl: api.db.url, log: testLog, reconnectDelayMs: 50 });
    await feed.ready();
  });

  afterAll(async () => {
    await feed.close();
  });

  it('hands every NOTIFY to each subscriber and says "catch up" (null) after reconnecting', async () => {
    const received: (ChangeNotice | null)[] = [];
    const unsubscribe = feed.subscribe((notice) => received.push(notice));
    const id = await writeEvent('flag.updated', 'feed');
    await eventually(() => received.length, (count) => count === 1, 5_000);
    expect(received[0]).toEqual({ seq: id, type: 'flag.updated', entityKey: 'feed' });

    await api.db.pool.query(sql.typeAlias('void')`
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE application_name = 'flags-change-feed' AND datname = current_database()`);
    await eventually(() => received.includes(null), Boolean, 5_000);
    // After the catch-up signal LISTEN is back in place: the next notice arrives.
    const next = await writeEvent('flag.updated', 'feed');
    await eventually(() => received.some((notice) => notice?.seq === next), Boolean, 5_000);
    unsubscribe();
  });

  it('frees an SSE client\'s place when the client disconnects, and subscribes streams to the feed once, not each', async () => {
    const baseline = api.deps.changeFeed!.subscribers();
    const connections = await Promise.all(Array.from({ length: 5 }, () => openSse(`${api.baseUrl}/v1/events`, { token: api.adminToken })));
    expect(connections.map((connection) => connection.status)).toEqual([200, 200, 200, 200, 200]);
    await eventually(() => api.deps.outboxTail.streams, (streams) => streams === 5, 5_000);
    // However many streams are open, the process's feed has one subscriber for all of them.
    expect(api.deps.changeFeed!.subscribers()).toBeLessThanOrEqual(baseline + 1);
    for (const connection of connections) connection.close();
    await eventually(() => api.deps.outboxTail.streams, (streams) => streams === 0, 5_000);
  });
});
