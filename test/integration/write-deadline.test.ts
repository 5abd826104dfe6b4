import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { z } from 'zod';
import { createDatabasePool, type DatabasePool } from '../../src/data/pool.ts';
import { sql } from '../../src/data/sql.ts';
import { appendEvent, dryRunOf, inWriteTransaction, WRITE_LOCK_KEY } from '../../src/data/write-transaction.ts';
import { AppError, isAppError } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

/** A write through the real write path: one outbox row (of a type nothing here reacts to), which is what the assertions look for. */
function writeMarker(db: DatabasePool, marker: string): Promise<void> {
  return inWriteTransaction(db, (tx) => appendEvent(tx, { type: 'audit.checkpoint', entityKey: marker, payload: {} }));
}

describe('the deadline of a write', () => {
  let database: TestDatabase;
  let db: DatabasePool;

  beforeAll(async () => {
    database = await createTestDatabase();
    // One connection, so a test can hold it and make the next write queue for it.
    db = await createDatabasePool(database.url, { maximumPoolSize: 1, writeTimeoutMs: 400 });
  });

  afterAll(async () => {
    await db.end();
    await database.drop();
  });

  const committed = (marker: string) =>
    database.pool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM outbox WHERE entity_key = ${marker}`);

  async function expectUnavailable(write: Promise<unknown>): Promise<number> {
    const started = performance.now();
    const error = await write.then(() => null, (thrown: unknown) => thrown);
    expect(isAppError(error) && error.code).toBe('unavailable');
    return performance.now() - started;
  }

  it('answers unavailable when the write lock is not free in time, and writes nothing', async () => {
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK_KEY]);
      const ms = await expectUnavailable(writeMarker(db, 'lock-held'));
      expect(ms).toBeLessThan(2_000);
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    expect(await committed('lock-held')).toBe(0);
    // The pool's connection came back in working order.
    await writeMarker(db, 'after-lock');
    expect(await committed('after-lock')).toBe(1);
  });

  it('never commits a write it answered unavailable, even when it gets a connection afterwards', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Holds the pool's only connection, so the write below waits in the pool's queue past its deadline.
    const holding = db.connect(async () => held);
    const ms = await expectUnavailable(writeMarker(db, 'queued'));
    expect(ms).toBeLessThan(2_000);
    release();
    await holding;
    // A write after it goes through the same connection: once it is committed, the queued one has had its turn.
    await writeMarker(db, 'sentinel');
    expect(await committed('sentinel')).toBe(1);
    expect(await committed('queued')).toBe(0);
  });
  it('keeps its connection when a write is refused by its own checks or rolled back as a dry run', async () => {
    const backend = () => db.oneFirst(sql.type(z.object({ pid: z.number() }))`SELECT pg_backend_pid() AS pid`);
    const before = await backend();
    const refused = await inWriteTransaction(db, async (tx) => {
      await appendEvent(tx, { type: 'audit.checkpoint', entityKey: 'refused', payload: {} });
      throw new AppError('validation_error', 'refused by its own check');
    }).catch((error: unknown) => error);
    expect(isAppError(refused) && refused.code).toBe('validation_error');
    expect(await inWriteTransaction(dryRunOf(db), async (tx) => {
      await appendEvent(tx, { type: 'audit.checkpoint', entityKey: 'dry-run', payload: {} });
      return 'would write';
    })).toBe('would write');
    // slonik closes a connection whose work threw; the pool's only one is still the same backend.
    expect(await backend()).toBe(before);
    expect(await committed('refused') + await committed('dry-run')).toBe(0);
  });
});
