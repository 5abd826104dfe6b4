// Writes to different flags run in parallel (docs/write-path.md): each holds its own flag's lock and
// only the appends are serialised. These tests hold the parts that must stay exact: a write to one
// flag waits for that flag only; the audit chain verifies; every flag's versions are contiguous, in
// id order in the audit log and in the outbox; and a reader following the outbox by id never skips
// an event that commits after a later one it has already seen.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { z } from 'zod';
import { latestOutboxId, readOutboxAfter } from '../../src/data/outbox.ts';
import { sql } from '../../src/data/sql.ts';
import { FLAG_LOCK_CLASS, REFERENCES_LOCK_KEY, setWriteTimeout } from '../../src/data/write-transaction.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';

describe('writes to different flags', () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await startTestApi();
    // Lock waits here are held on purpose; a busy machine must not turn them into 503s.
    setWriteTimeout(api.db.pool, 30_000);
  });
  afterEach(async () => {
    await api.close();
  });

  async function createFlags(keys: readonly string[]): Promise<void> {
    for (const key of keys) expect((await api.request('POST', '/v1/flags', { body: { key, type: 'number', defaultValue: 0 } })).status).toBe(201);
  }

  it('proceed while another flag\'s write waits for its lock, and that write completes once the lock is free', async () => {
    await createFlags(['held', 'free']);
    const holder = new pg.Client({ connectionString: api.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [FLAG_LOCK_CLASS, 'held']);
      let heldAnswer: { status: number; body: { version: number } } | undefined;
      const heldWrite = api.request('PATCH', '/v1/flags/held', { body: { defaultValue: 1, version: 1 } }).then((response) => (heldAnswer = response));
      // The write to "held" is queued on its flag's lock, not merely slow.
      await eventually(
        async () => (await holder.query(`SELECT count(*)::int AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1`, [FLAG_LOCK_CLASS])).rows[0].waiting as number,
        (waiting) => waiting === 1,
        10_000,
      );
      const free = await api.request('PATCH', '/v1/flags/free', { body: { defaultValue: 1, version: 1 } });
      expect(free.status).toBe(200);
      expect(free.body.version).toBe(2);
      expect(heldAnswer).toBeUndefined();
      await holder.query('COMMIT');
      await heldWrite;
      expect(heldAnswer).toMatchObject({ status: 200, body: { version: 2 } });
    } finally {
      await holder.end();
    }
  });

  it('that change their prerequisites check them one at a time: two halves of a loop cannot both pass', async () => {
    await createFlags(['left', 'right']);
    const holder = new pg.Client({ connectionString: api.db.url });
    await holder.connect();
    try {
      // Both patches are queued on the references lock, so neither checks before the other could commit.
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1)', [REFERENCES_LOCK_KEY]);
      const patches = Promise.all([
        api.request('PATCH', '/v1/flags/left', { body: { prerequisites: [{ flagKey: 'right', value: 0 }], version: 1 } }),
        api.request('PATCH', '/v1/flags/right', { body: { prerequisites: [{ flagKey: 'left', value: 0 }], version: 1 } }),
      ]);
      await eventually(
        async () => (await holder.query(`SELECT count(*)::int AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1`, [REFERENCES_LOCK_KEY])).rows[0].waiting as number,
        (waiting) => waiting === 2,
        10_000,
      );
      await holder.query('COMMIT');
      const answers = await patches;
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
      expect(answers.find((answer) => answer.status === 409)?.body.error.code).toBe('prerequisite_cycle');
    } finally {
      await holder.end();
    }
  });

  it('keep the audit chain exact, each flag\'s versions contiguous and in order, and the outbox a prefix in id order', async () => {
    const own = Array.from({ length: 8 }, (_, index) => `own-${index}`);
    await createFlags([...own, 'contended']);
    const start = await latestOutboxId(api.db.pool);

    // A reader following the outbox by id, as SSE, webhooks and every API's catch-up do.
    const followed: number[] = [];
    let writing = true;
    const follow = (async () => {
      let cursor = start;
      for (;;) {
        const finalPass = !writing;
        for (const event of await readOutboxAfter(api.db.pool, cursor, 1_000)) {
          followed.push(event.id);
          cursor = event.id;
        }
        if (finalPass) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    const statuses: number[] = [];
    await Promise.all([
      ...own.map(async (key) => {
        for (let version = 1; version <= 12; version += 1) {
          const response = await api.request('PATCH', `/v1/flags/${key}`, { body: { defaultValue: version, version } });
          statuses.push(response.status);
        }
      }),
      ...Array.from({ length: 4 }, async (_, writer) => {
        for (let attempt = 0; attempt < 12; attempt += 1) {
          const current = await api.request('GET', '/v1/flags/contended');
          const response = await api.request('PATCH', '/v1/flags/contended', { body: { defaultValue: writer * 100 + attempt, version: current.body.version } });
          statuses.push(response.status);
        }
      }),
    ]);
    writing = false;
    await follow;

    expect(statuses.filter((status) => status !== 200 && status !== 409)).toEqual([]);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(8 * 12 + 1);

    const all = await readOutboxAfter(api.db.pool, start, 10_000);
    expect(followed).toEqual(all.map((event) => event.id));

    const verification = await api.request('GET', '/v1/audit/verify');
    expect(verification.status).toBe(200);
    expect(verification.body).toMatchObject({ ok: true, problems: [] });

    const audited = await api.db.pool.any(sql.type(z.object({ entity_key: z.string(), version: z.number() }))`
      SELECT entity_key, version FROM audit_log WHERE entity_type = 'flag' ORDER BY id`);
    for (const key of [...own, 'contended']) {
      const auditVersions = audited.filter((entry) => entry.entity_key === key).map((entry) => entry.version);
      const eventVersions = all.filter((event) => event.entityKey === key).map((event) => event.payload.version as number);
      const contiguous = Array.from({ length: auditVersions.length }, (_, index) => index + 1);
      expect({ key, auditVersions }).toEqual({ key, auditVersions: contiguous });
      expect({ key, eventVersions }).toEqual({ key, eventVersions: contiguous.slice(1) });
    }
  });
});
