// Writes leave their audit entries and events unnumbered; the sequencer numbers them after commit
// (sql/020, docs/write-path.md). These tests hold what that must not give away: an entry that no
// holder of the audit key wrote, or a copy of one that it did, never becomes a signed entry; a row
// the log cannot take does not stop the rows behind it; and what a write committed but did not get
// sequenced (its process stopped in between) is sequenced without any further write.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { z } from 'zod';
import { APPEND_LOCK_KEY } from '../../src/data/append-sequencer.ts';
import { sql } from '../../src/data/sql.ts';
import { appendEvent, inSavepoint, inWriteTransaction } from '../../src/data/write-transaction.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { testAuditSigner, waitingAppends } from '../support/database.ts';
import { eventually } from '../support/eventually.ts';

describe('appends sequenced after commit', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api.close();
  });

  const auditEntries = (key: string) =>
    api.db.pool.any(sql.type(z.object({ id: z.number(), version: z.number().nullable(), signed: z.boolean() }))`
      SELECT a.id, a.version, s.entry_id IS NOT NULL AS signed FROM audit_log a LEFT JOIN audit_signatures s ON s.entry_id = a.id
      WHERE a.entity_key = ${key} ORDER BY a.id`);
  const waiting = () => waitingAppends(api.db.pool);
  const verify = async () => (await api.request('GET', '/v1/audit/verify')).body as { ok: boolean; problems: unknown[] };

  async function createFlag(key: string): Promise<void> {
    expect((await api.request('POST', '/v1/flags', { body: { key, type: 'number', defaultValue: 0 } })).status).toBe(201);
  }

  it('refuses an entry sealed without the audit key, and chains the real ones around it', async () => {
    await createFlag('honest');
    const forged = JSON.stringify({ actor: 'mallory', action: 'flag.updated', entityType: 'flag', entityKey: 'forged', version: 9, before: null, after: null, diff: [] });
    await api.db.pool.query(sql.typeAlias('void')`
      INSERT INTO audit_pending (content, key_id, seal) VALUES (${forged}, ${testAuditSigner().keyId}, ${Buffer.alloc(32, 7).toString('base64')})`);
    expect((await api.request('PATCH', '/v1/flags/honest', { body: { defaultValue: 1, version: 1 } })).status).toBe(200);

    expect(await auditEntries('forged')).toEqual([]);
    expect((await auditEntries('honest')).map(({ version, signed }) => ({ version, signed }))).toEqual([{ version: 1, signed: true }, { version: 2, signed: true }]);
    expect(await waiting()).toBe(0);
    expect(await verify()).toMatchObject({ ok: true, problems: [] });
  });

  it('refuses a copy of a real entry inserted by another transaction: one change, one entry', async () => {
    await createFlag('replayed');
    await createFlag('bystander');
    const holder = new pg.Client({ connectionString: api.db.url });
    await holder.connect();
    try {
      // Holding the append lock keeps the write's entry waiting, where the copy can be made.
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK_KEY]);
      const write = api.request('PATCH', '/v1/flags/replayed', { body: { defaultValue: 1, version: 1 } });
      await eventually(
        async () => (await holder.query(`SELECT count(*)::int AS n FROM audit_pending WHERE content::jsonb->>'entityKey' = 'replayed'`)).rows[0].n as number,
        (n) => n === 1,
        10_000,
      );
      await holder.query(`INSERT INTO audit_pending (content, key_id, seal) SELECT content, key_id, seal FROM audit_pending WHERE content::jsonb->>'entityKey' = 'replayed'`);
      await holder.query('COMMIT');
      expect((await write).status).toBe(200);
    } finally {
      await holder.end();
    }
    // The copy committed after the write's sequencing read the table; the next write's sequencing meets it.
    expect((await api.request('PATCH', '/v1/flags/bystander', { body: { defaultValue: 1, version: 1 } })).status).toBe(200);
    await eventually(waiting, (n) => n === 0, 10_000);

    expect((await auditEntries('replayed')).map(({ version, signed }) => ({ version, signed }))).toEqual([{ version: 1, signed: true }, { version: 2, signed: true }]);
    expect(await verify()).toMatchObject({ ok: true, problems: [] });
  });

  it('sets aside a row the log cannot take, and sequences the rows behind it', async () => {
    await createFlag('after-poison');
    // NOTIFY refuses payloads of 8,000 bytes or more: this event can never be announced.
    await api.db.pool.query(sql.typeAlias('void')`
      INSERT INTO outbox_pending (type, entity_key, payload) VALUES ('flag.updated', ${'x'.repeat(9_000)}, '{}')`);
    const written = await api.request('PATCH', '/v1/flags/after-poison', { body: { defaultValue: 1, version: 1 } });
    expect(written.status).toBe(200);

    const published = await api.db.pool.any(sql.type(z.object({ length: z.number(), version: z.string().nullable() }))`
      SELECT length(entity_key) AS length, payload->>'version' AS version FROM outbox WHERE type = 'flag.updated' AND (entity_key = 'after-poison' OR length(entity_key) > 8000)`);
    expect(published).toEqual([{ length: 'after-poison'.length, version: '2' }]);
    expect((await auditEntries('after-poison')).map(({ version }) => version)).toEqual([1, 2]);
    expect(await waiting()).toBe(0);
  });

  it('keeps what a savepoint appended only when the savepoint is kept, and what the write appends after it', async () => {
    const marker = (entityKey: string) => ({ type: 'audit.checkpoint' as const, entityKey, payload: {} });
    await inWriteTransaction(api.db.pool, async (tx) => {
      await appendEvent(tx, marker('sp-before'));
      await inSavepoint(tx, (savepoint) => appendEvent(savepoint, marker('sp-kept')));
      await inSavepoint(tx, async (savepoint) => {
        await appendEvent(savepoint, marker('sp-dropped'));
        throw new Error('this savepoint rolls back');
      }).catch(() => undefined);
      await appendEvent(tx, marker('sp-after'));
    });
    expect(await api.db.pool.anyFirst(sql.type(z.object({ entity_key: z.string() }))`
      SELECT entity_key FROM outbox WHERE entity_key LIKE 'sp-%' ORDER BY id`)).toEqual(['sp-before', 'sp-kept', 'sp-after']);
  });

  it('answers an audit read with every entry committed before it, sequenced or not yet', async () => {
    // What a writer holding the audit key leaves when it stops right after its commit.
    const content = JSON.stringify({ actor: 'alice', actorName: 'alice', tokenId: null, approver: null, action: 'flag.updated', entityType: 'flag', entityKey: 'honest', version: 3, before: null, after: null, diff: [] });
    const writer = new pg.Client({ connectionString: api.db.url });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      const transactionId = Number((await writer.query('SELECT txid_current() AS id')).rows[0].id);
      await writer.query('INSERT INTO audit_pending (content, key_id, seal) VALUES ($1, $2, $3)', [content, testAuditSigner().keyId, testAuditSigner().signPending(transactionId, content)]);
      await writer.query('COMMIT');
    } finally {
      await writer.end();
    }
    const trail = (await api.request('GET', '/v1/flags/honest/audit')).body.items as { version: number; actor: string }[];
    expect(trail[0]).toMatchObject({ version: 3, actor: 'alice' });
    expect(await waiting()).toBe(0);
    expect(await verify()).toMatchObject({ ok: true, problems: [] });
  });

  it('sequences what a write committed but did not sequence, with no further write', async () => {
    // What a writer that stopped right after its commit leaves behind.
    await api.db.pool.query(sql.typeAlias('void')`
      INSERT INTO outbox_pending (type, entity_key, payload) VALUES ('audit.checkpoint', 'left-behind', '{"left": true}')`);
    const { value } = await eventually(
      () => api.db.pool.anyFirst(sql.type(z.object({ payload: z.unknown() }))`SELECT payload FROM outbox WHERE entity_key = 'left-behind'`),
      (payloads) => payloads.length > 0,
      15_000,
      100,
    );
    expect(value).toEqual([{ left: true }]);
    expect(await waiting()).toBe(0);
  });
});
