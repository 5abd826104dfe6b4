import { z } from 'zod';
import { auditHead, currentDatabase, signCheckpoint, unsignedThroughInDatabase, verifyCheckpoint, type AuditCheckpoint, type AuditCheckpointStore } from './audit-checkpoints.ts';
import type { AuditSigner, AuditVerifier } from './audit-signer.ts';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';
import { appendEvent, inWriteTransaction } from './write-transaction.ts';

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
    FROM audit_entries ${where} ORDER BY id DESC LIMIT ${query.limit + 1}`);
  const items = rows.slice(0, query.limit).map(toEntry);
  return { items, nextBefore: rows.length > query.limit ? (items.at(-1)?.id ?? null) : null };
}

/**
 * What verify can find wrong, per entry or with the checkpoint:
 * - `content_changed`: the entry no longer hashes to its stored hash (edited, hash left as it was);
 * - `signature_invalid`: its signature does not match (rewritten and re-hashed, or forged);
 * - `signature_missing`: no signature, though written after signing began (appended without the key);
 * - `entry_missing`: the entry it chains to is nowhere (an entry before it was deleted);
 * - `out_of_order`: the entry it chains to is elsewhere in the log (entries moved or swapped);
 * - `truncated`: the log ends before the entry a checkpoint vouches for (the newest were deleted);
 * - `checkpoint_mismatch`: the log disagrees with the checkpoint (the vouched-for entry, or where signing began);
 * - `checkpoint_invalid`: the checkpoint itself is unreadable or not signed by this key.
 */
export const AUDIT_PROBLEMS = [
  'content_changed',
  'signature_invalid',
  'signature_missing',
  'entry_missing',
  'out_of_order',
  'truncated',
  'checkpoint_mismatch',
  'checkpoint_invalid',
] as const;
export type AuditProblem = (typeof AUDIT_PROBLEMS)[number];

export interface AuditFinding {
  /** The entry concerned; for checkpoint findings, the entry the checkpoint names. */
  id: number;
  problem: AuditProblem;
  message: string;
}

export interface AuditVerification {
  ok: boolean;
  /** Entries walked. */
  entries: number;
  /** Of those, entries with a valid signature. */
  signed: number;
  /** Entries up to this id predate signing; the chain up to a signed entry vouches for them. */
  unsignedThrough: number;
  head: { id: number; hash: string } | null;
  /** The checkpoint the log was held against; null when none was made yet. */
  checkpoint: { id: number; hash: string; at: string; verified: boolean } | null;
  firstBadId: number | null;
  problem: AuditProblem | null;
  /** Every finding, in log order, at most MAX_FINDINGS of them. */
  problems: AuditFinding[];
  /** What the log cannot show in this set-up (no checkpoint yet, a role that may rewrite it). */
  warnings: string[];
}

const MAX_FINDINGS = 100;

const checkRow = z.object({
  id: z.number(),
  hash: z.string(),
  prev_hash: z.string(),
  recomputed: z.string(),
  key_id: z.string().nullable(),
  signature: z.string().nullable(),
});

/**
 * Walks the chain in id order, in batches: each entry must link to the one before it, hash to its
 * stored hash (the same SQL function wrote it; a compressed entry as put back from its block), and, once signing began, carry a valid signature of
 * that hash by the audit key. Then holds the log against the newest checkpoint (kept outside the
 * database), which catches the newest entries being deleted up to when it was made. With `since`
 * (a verified checkpoint), walks only the entries after it.
 */
export async function verifyAudit(
  db: DatabasePool,
  options: { verifier: AuditVerifier; checkpoints?: AuditCheckpointStore; since?: AuditCheckpoint; batchSize?: number },
): Promise<AuditVerification> {
  const { verifier } = options;
  const findings: AuditFinding[] = [];
  const warnings: string[] = [];
  const find = (id: number, problem: AuditProblem, message: string) => {
    if (findings.length < MAX_FINDINGS) findings.push({ id, problem, message });
  };
  const database = await currentDatabase(db);
  const recordedBoundary = await unsignedThroughInDatabase(db);

  let checkpoint: AuditCheckpoint | null = options.since ?? null;
  let checkpointVerified = false;
  if (!checkpoint && options.checkpoints) {
    try {
      checkpoint = await options.checkpoints.latest(database);
    } catch (error) {
      find(0, 'checkpoint_invalid', `the checkpoint in ${options.checkpoints.location} cannot be read: ${(error as Error).message}`);
    }
  }
  if (checkpoint) {
    checkpointVerified = verifyCheckpoint(checkpoint, verifier);
    if (!checkpointVerified) {
      find(checkpoint.id, 'checkpoint_invalid', `the checkpoint of entry ${checkpoint.id} is not signed by this service's audit key ${verifier.keyId} (key ${checkpoint.keyId})`);
    } else if (checkpoint.database !== database) {
      find(checkpoint.id, 'checkpoint_mismatch', `the checkpoint was made for database "${checkpoint.database}", not "${database}"`);
    } else if (checkpoint.unsignedThrough !== recordedBoundary) {
      find(checkpoint.id, 'checkpoint_mismatch', `signing began after entry ${checkpoint.unsignedThrough} by the checkpoint, after ${recordedBoundary} by the database: the boundary was moved`);
    }
  } else if (options.checkpoints) {
    warnings.push('no checkpoint of this log yet: deleting its newest entries cannot be detected until the worker makes one');
  }
  // A verified checkpoint pins where signing began; the database's own record could have been moved.
  const unsignedThrough = checkpoint && checkpointVerified ? checkpoint.unsignedThrough : recordedBoundary;

  let previousHash = 'genesis';
  let previousId = 0;
  if (options.since) {
    const anchor = await db.maybeOneFirst(sql.type(z.object({ hash: z.string() }))`SELECT hash FROM audit_log WHERE id = ${options.since.id}`);
    if (anchor !== options.since.hash) {
      find(options.since.id, anchor === null ? 'truncated' : 'checkpoint_mismatch', anchor === null ? `entry ${options.since.id}, which the last checkpoint vouches for, is gone` : `entry ${options.since.id} no longer has the hash its checkpoint vouches for`);
    }
    previousHash = options.since.hash;
    previousId = options.since.id;
  }

  let entries = 0;
  let signed = 0;
  let head: { id: number; hash: string } | null = null;
  const batchSize = options.batchSize ?? 5_000;
  for (let afterId = previousId; ; ) {
    // A compressed entry is put back from its block, each block of the batch read once.
    const rows = await db.any(sql.type(checkRow)`
      WITH batch AS MATERIALIZED (SELECT a AS entry FROM audit_log a WHERE a.id > ${afterId} ORDER BY a.id LIMIT ${batchSize}),
      archived AS (
        SELECT held.key::bigint AS id, held.value AS content FROM audit_archive b CROSS JOIN LATERAL jsonb_each(b.content) held
        WHERE b.first_id IN (SELECT (batch.entry).archived_in FROM batch))
      SELECT (batch.entry).id, (batch.entry).hash, (batch.entry).prev_hash,
             coalesce(audit_entry_hash(audit_restored(batch.entry, archived.content)), '') AS recomputed, s.key_id, s.signature
      FROM batch LEFT JOIN archived ON archived.id = (batch.entry).id LEFT JOIN audit_signatures s ON s.entry_id = (batch.entry).id
      ORDER BY (batch.entry).id`);
    for (const row of rows) {
      entries += 1;
      if (row.prev_hash !== previousHash) {
        const linked = await db.maybeOneFirst(sql.type(z.object({ id: z.number() }))`SELECT id FROM audit_log WHERE hash = ${row.prev_hash} AND id <> ${row.id}`);
        if (linked === null) find(row.id, 'entry_missing', `entry ${row.id} follows an entry that is no longer in the log (it chains to ${row.prev_hash.slice(0, 12)}…, entry ${previousId} is ${previousHash.slice(0, 12)}…)`);
        else find(row.id, 'out_of_order', `entry ${row.id} follows entry ${linked} in the chain, but comes after entry ${previousId}`);
      } else if (row.recomputed !== row.hash) {
        find(row.id, 'content_changed', `entry ${row.id} was changed after it was written: its content hashes to ${row.recomputed.slice(0, 12)}…, not ${row.hash.slice(0, 12)}…`);
      } else if (row.id > unsignedThrough) {
        if (row.signature === null) find(row.id, 'signature_missing', `entry ${row.id} carries no signature: it was not written by the service`);
        else if (!verifier.verifyEntry(row.id, row.hash, row.signature)) find(row.id, 'signature_invalid', `entry ${row.id}'s signature does not match it (rewritten, or signed by key ${row.key_id ?? '?'} instead of ${verifier.keyId})`);
        else signed += 1;
      }
      previousHash = row.hash;
      previousId = row.id;
      head = { id: row.id, hash: row.hash };
    }
    if (rows.length < batchSize) break;
    afterId = previousId;
  }

  if (checkpoint && checkpointVerified && !options.since && checkpoint.database === database) {
    const vouched = await db.maybeOneFirst(sql.type(z.object({ hash: z.string() }))`SELECT hash FROM audit_log WHERE id = ${checkpoint.id}`);
    if (vouched === null && (head === null || head.id < checkpoint.id)) {
      find(checkpoint.id, 'truncated', `the log ends at entry ${head?.id ?? 0}, but a checkpoint signed at ${checkpoint.at} vouches for entries up to ${checkpoint.id}: the newest entries were deleted`);
    } else if (vouched !== null && vouched !== checkpoint.hash) {
      find(checkpoint.id, 'checkpoint_mismatch', `entry ${checkpoint.id} does not have the hash the checkpoint signed at ${checkpoint.at} vouches for: the chain up to it was rewritten`);
    }
  }
  findings.sort((a, b) => a.id - b.id);
  const first = findings[0];
  return {
    ok: findings.length === 0,
    entries,
    signed,
    unsignedThrough,
    head,
    checkpoint: checkpoint ? { id: checkpoint.id, hash: checkpoint.hash, at: checkpoint.at, verified: checkpointVerified } : null,
    firstBadId: first?.id ?? null,
    problem: first?.problem ?? null,
    problems: findings,
    warnings,
  };
}

/** Why a checkpoint was refused: the log does not verify since the last one. Never retried. */
export class AuditTamperedError extends Error {
  readonly verification: AuditVerification;

  constructor(verification: AuditVerification) {
    super(`the audit log does not verify since its last checkpoint, so no new one is signed: ${verification.problems.map((finding) => finding.message).slice(0, 3).join('; ')}`);
    this.name = 'AuditTamperedError';
    this.verification = verification;
  }
}

export type CheckpointOutcome = { written: true; checkpoint: AuditCheckpoint } | { written: false; reason: 'empty' | 'unchanged'; checkpoint: AuditCheckpoint | null };

/**
 * Signs the chain's head into a checkpoint, stores it outside the database and publishes it as the
 * `audit.checkpoint` event, when the head moved since the last one. The entries since the last
 * checkpoint are verified first: a log that was tampered with is never vouched for
 * (AuditTamperedError), and the boundary where signing began is carried from checkpoint to
 * checkpoint, not re-read from the database.
 */
export async function writeAuditCheckpoint(db: DatabasePool, options: { signer: AuditSigner; store: AuditCheckpointStore; now: number }): Promise<CheckpointOutcome> {
  const database = await currentDatabase(db);
  const previous = await options.store.latest(database);
  const head = await auditHead(db);
  if (!head) return { written: false, reason: 'empty', checkpoint: previous };
  if (previous && previous.id === head.id && previous.hash === head.hash) return { written: false, reason: 'unchanged', checkpoint: previous };
  const verification = await verifyAudit(db, { verifier: options.signer, ...(previous ? { since: previous } : {}) });
  if (!verification.ok) throw new AuditTamperedError(verification);
  const checkpoint = signCheckpoint(
    { database, id: head.id, hash: head.hash, unsignedThrough: previous?.unsignedThrough ?? verification.unsignedThrough, at: new Date(options.now).toISOString() },
    options.signer,
  );
  // Published before it is stored: a retry after a failed store finds the head not yet checkpointed
  // and publishes again (at least once), where the other order could store it and never publish it.
  await inWriteTransaction(db, (tx) => appendEvent(tx, { type: 'audit.checkpoint', entityKey: String(checkpoint.id), payload: { ...checkpoint } }));
  await options.store.put(checkpoint);
  return { written: true, checkpoint };
}

/**
 * Whether the role this pool connects as could rewrite the audit log underneath verify: a superuser,
 * the table's owner (who can switch its triggers off), or one granted UPDATE, DELETE or TRUNCATE.
 */
export async function auditRewritableByThisRole(db: DatabasePool): Promise<boolean> {
  return db.oneFirst(sql.type(z.object({ rewritable: z.boolean() }))`
    SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
        OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'audit_log'::regclass), 'USAGE')
        OR has_table_privilege('audit_log', 'UPDATE') OR has_table_privilege('audit_log', 'DELETE') OR has_table_privilege('audit_log', 'TRUNCATE')
      AS rewritable`);
}
