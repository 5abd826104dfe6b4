import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase, writeTestEvent, type TestDatabase } from '../support/database.ts';
import { OutboxTail } from '../../src/events/outbox-tail.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { testLog } from '../support/logger.ts';
import { openSse, type SseConnection } from '../support/sse-client.ts';

// An API whose event streams have small caps, a small buffer and a short idle time, so each limit is reached quickly.
describe('the limits of /v1/events', () => {
  let database: TestDatabase;
  let api: TestApi;
  const open: SseConnection[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    api = await startTestApi({}, { db: database });
    // The tail the routes use, replaced by one with small limits before anything streams.
    await api.deps.outboxTail.close();
    api.deps.outboxTail = new OutboxTail({ db: api.deps.readDb, log: testLog, changeFeed: api.deps.changeFeed, maxStreams: 60, maxStreamsPerToken: 55, bufferBytes: 4_096 });
    api.deps.eventStreamIdleMs = 1_500;
  });

  // Every test starts with no stream open, whatever the one before it left.
  afterEach(async () => {
    for (const connection of open.splice(0)) connection.close();
    await eventually(() => api.deps.outboxTail.streams, (count) => count === 0, 5_000);
  });

  afterAll(async () => {
    await api.deps.outboxTail.close();
    await api.close();
    await database.drop();
  });

  const writeEvent = (entityKey: string) => writeTestEvent(database.pool, { type: 'flag.updated', entityKey, payload: { key: entityKey } });

  async function stream(token: string, options: { lastEventId?: string; query?: string } = {}): Promise<SseConnection> {
    const connection = await openSse(`${api.baseUrl}/v1/events${options.query ?? ''}`, { token, ...(options.lastEventId ? { lastEventId: options.lastEventId } : {}) });
    open.push(connection);
    return connection;
  }

  async function managerToken(name: string): Promise<string> {
    return (await api.request('POST', '/v1/tokens', { body: { name, owner: { id: `svc-${name}`, kind: 'service' }, scopes: ['feature_flag:manage'] } })).body.token as string;
  }

  it('serves 50 streams from one reader: every stream gets every event, and the outbox is read a few times, not once per stream', async () => {
    const token = await managerToken('fan-out');
    const streams = await Promise.all(Array.from({ length: 50 }, () => stream(token)));
    expect(streams.every((connection) => connection.status === 200)).toBe(true);
    const readsBefore = api.deps.outboxTail.databaseReads;
    const ids = [await writeEvent('fan-1'), await writeEvent('fan-2'), await writeEvent('fan-3')];
    for (const connection of streams) {
      await connection.waitForEvents(3);
      expect(connection.events.map((event) => Number(event.id))).toEqual(ids);
    }
    // One read per wake-up (at most one per event) whatever the number of streams.
    expect(api.deps.outboxTail.databaseReads - readsBefore).toBeLessThanOrEqual(6);
    for (const connection of streams) connection.close();
    await eventually(() => api.deps.outboxTail.streams, (count) => count === 0, 5_000);
  });

  it('refuses a stream past the per-token cap with 429 and past the process cap with 503, and frees a place when a stream closes', async () => {
    const busy = await managerToken('busy');
    const streams = await Promise.all(Array.from({ length: 55 }, () => stream(busy)));
    expect(streams.every((connection) => connection.status === 200)).toBe(true);
    const overToken = await stream(busy);
    expect(overToken.status).toBe(429);
    expect(overToken.errorBody).toMatchObject({ error: { code: 'too_many_requests', details: { limit: 55, scope: 'token' } } });

    const other = await managerToken('other');
    const more = await Promise.all(Array.from({ length: 5 }, () => stream(other)));
    expect(more.every((connection) => connection.status === 200)).toBe(true);
    const overProcess = await stream(other);
    expect(overProcess.status).toBe(503);
    expect(overProcess.errorBody).toMatchObject({ error: { code: 'unavailable', details: { limit: 60, scope: 'process' } } });
    expect(overProcess.headers['retry-after']).toBe('1');

    streams[0]!.close();
    await eventually(() => api.deps.outboxTail.streams, (count) => count === 59, 5_000);
    expect((await stream(busy)).status).toBe(200);
    for (const connection of [...streams, ...more]) connection.close();
    await eventually(() => api.deps.outboxTail.streams, (count) => count <= 1, 5_000);
  });

  it('closes a stream that sent no event for the idle time, naming where to resume, and the resumed stream misses nothing', async () => {
    const token = await managerToken('idler');
    const sent = await writeEvent('before-idle');
    const idle = await stream(token, { query: '?types=segment.*' });
    const unwanted = await writeEvent('filtered-out');
    await eventually(() => idle.ended, (ended) => ended, 5_000);
    // The closing frame carries the last id the stream looked at (past the filtered-out event).
    expect(idle.lastEventId).toBe(String(unwanted));
    expect(idle.comments.some((comment) => comment.includes('reconnect with Last-Event-ID'))).toBe(true);
    expect(sent).toBeLessThan(unwanted);
    const missedWhileAway = await writeEvent('while-away');
    const resumed = await stream(token, { lastEventId: idle.lastEventId! });
    await resumed.waitForEvents(1);
    expect(Number(resumed.events[0]!.id)).toBe(missedWhileAway);
    resumed.close();
  });

  it('replays from the database a stream that resumes from before what the buffer holds', async () => {
    const token = await managerToken('late');
    const live = await stream(token);
    const ids: number[] = [];
    for (let index = 0; index < 40; index += 1) ids.push(await writeEvent(`buffer-${index}`));
    await live.waitForEvents(40);
    const readsBefore = api.deps.outboxTail.databaseReads;
    const late = await stream(token, { lastEventId: String(ids[0]! - 1) });
    await late.waitForEvents(40);
    expect(late.events.map((event) => Number(event.id))).toEqual(ids);
    // 40 frames are more than the 4 KB buffer holds: the first ones came from a database page.
    expect(api.deps.outboxTail.databaseReads).toBeGreaterThan(readsBefore);
    live.close();
    late.close();
  });
});
