import { z } from 'zod';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';

/** An outbox row as the SSE stream and webhooks carry it (the `data` of an SSE event, a webhook body). */
export interface OutboxEvent {
  /** The outbox id: increases in commit order, so it is the resume point of every consumer. */
  id: number;
  type: string;
  entityKey: string | null;
  /** ISO 8601. */
  at: string;
  payload: Record<string, unknown>;
}

const outboxRow = z.object({
  id: z.number(),
  type: z.string(),
  entity_key: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()),
  at: z.number(),
});

/**
 * Up to `limit` events with an id above `after`, oldest first. Every event's id is drawn under the
 * append lock, held until the transaction that draws it commits (the sequencer's, or an
 * appendEventNumbered write's), so ids are assigned in commit order: once a reader has seen id N, no
 * row with a smaller id can commit later, so "everything after my cursor" never misses one.
 */
export async function readOutboxAfter(db: DatabasePool, after: number, limit: number): Promise<OutboxEvent[]> {
  const rows = await db.any(sql.type(outboxRow)`
    SELECT id, type, entity_key, payload, at FROM outbox WHERE id > ${after} ORDER BY id LIMIT ${limit}`);
  return rows.map((row) => ({ id: row.id, type: row.type, entityKey: row.entity_key, at: new Date(row.at).toISOString(), payload: row.payload }));
}

/** The id of the newest committed event, 0 when there is none. */
export async function latestOutboxId(db: DatabasePool): Promise<number> {
  return db.oneFirst(sql.type(z.object({ id: z.number() }))`SELECT coalesce(max(id), 0)::bigint AS id FROM outbox`);
}
