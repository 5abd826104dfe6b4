import { z } from 'zod';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';

export interface AuditEntry {
  id: number;
  at: string;
  /** The id of the person or service who made the change (a token's owner; before owners, the token's name). */
  actor: string;
  /** Their readable name, and the token the change was made with (null for older entries and the service's own). */
  actorName: string | null;
  tokenId: string | null;
  approver: string | null;
  action: string;
  entityType: string;
  entityKey: string;
  version: number | null;
  before: unknown;
  after: unknown;
  diff: unknown;
  hash: string;
  prevHash: string;
}

const auditRow = z.object({
  id: z.number(),
  at: z.number(),
  actor: z.string(),
  actor_name: z.string().nullable(),
  token_id: z.string().nullable(),
  approver: z.string().nullable(),
  action: z.string(),
  entity_type: z.string(),
  entity_key: z.string(),
  version: z.number().nullable(),
  before: z.unknown(),
  after: z.unknown(),
  diff: z.unknown(),
  hash: z.string(),
  prev_hash: z.string(),
});

function toEntry(row: z.infer<typeof auditRow>): AuditEntry {
  return {
    id: row.id,
    at: new Date(row.at).toISOString(),
    actor: row.actor,
    actorName: row.actor_name,
    tokenId: row.token_id,
    approver: row.approver,
    action: row.action,
    entityType: row.entity_type,
    entityKey: row.entity_key,
    version: row.version,
    before: row.before,
    after: row.after,
    diff: row.diff,
    hash: row.hash,
    prevHash: row.prev_hash,
  };
}

export interface AuditQuery {
  entityType?: string;
  entityKey?: string;
  actor?: string;
  action?: string;
  /** Entries with a smaller id than this (pages go newest first). */
  before?: number;
  limit: number;
}

/** A page of audit entries, newest first. */
export async function listAudit(db: DatabasePool, query: AuditQuery): Promise<{ items: AuditEntry[]; nextBefore: number | null }> {
  const filters = [
    query.entityType ? sql.fragment`entity_type = ${query.entityType}` : null,
    query.entityKey ? sql.fragment`entity_key = ${query.entityKey}` : null,
    query.actor ? sql.fragment`(actor = ${query.actor} OR approver = ${query.actor})` : null,
    query.action ? sql.fragment`action = ${query.action}` : null,
    query.before ? sql.fragment`id < ${query.before}` : null,
  ].filter((filter) => filter !== null);
  const where = filters.length ? sql.fragment`WHERE ${sql.join(filters, sql.fragment` AND `)}` : sql.fragment``;
  const rows = await db.any(sql.type(auditRow)`
    SELECT id, at, actor, actor_name, token_id, approver, action, entity_type, entity_key, version, before, after, diff, hash, prev_hash
    FROM audit_log ${where} ORDER BY id DESC LIMIT ${query.limit + 1}`);
  const items = rows.slice(0, query.limit).map(toEntry);
  return { items, nextBefore: rows.length > query.limit ? (items.at(-1)?.id ?? null) : null };
}

export type AuditVerification =
  | { ok: true; entries: number; lastHash: string | null }
  | { ok: false; entries: number; firstBadId: number; problem: 'content_changed' | 'chain_broken'; expected: string; found: string };

const checkRow = z.object({ id: z.number(), hash: z.string(), prev_hash: z.string(), recomputed: z.string() });

/**
 * Walks the chain in id order, in batches, recomputing each entry's hash with the same SQL function
 * that wrote it and checking that it links to its predecessor; names the first entry that does not fit.
 */
export async function verifyAudit(db: DatabasePool, batchSize = 5_000): Promise<AuditVerification> {
  let previousHash = 'genesis';
  let afterId = 0;
  let entries = 0;
  for (;;) {
    const rows = await db.any(sql.type(checkRow)`
      SELECT id, hash, prev_hash, audit_entry_hash(a) AS recomputed FROM audit_log a
      WHERE id > ${afterId} ORDER BY id LIMIT ${batchSize}`);
    for (const row of rows) {
      entries += 1;
      if (row.prev_hash !== previousHash) {
        return { ok: false, entries, firstBadId: row.id, problem: 'chain_broken', expected: previousHash, found: row.prev_hash };
      }
      if (row.recomputed !== row.hash) {
        return { ok: false, entries, firstBadId: row.id, problem: 'content_changed', expected: row.recomputed, found: row.hash };
      }
      previousHash = row.hash;
      afterId = row.id;
    }
    if (rows.length < batchSize) return { ok: true, entries, lastHash: entries ? previousHash : null };
  }
}
