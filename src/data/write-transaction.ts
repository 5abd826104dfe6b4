import { SlonikError, type DatabasePool, type DatabasePoolConnection, type DatabaseTransactionConnection } from 'slonik';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { EventType } from '../domain/event-types.ts';
import type { Actor } from './actor.ts';
import { APPEND_LOCK_KEY, CHANGES_CHANNEL, sequenceCommitted } from './append-sequencer.ts';
import { auditSignerOf, useAuditSigner } from './audit-signer.ts';
import { isDatabaseUnavailable } from './database-errors.ts';
import { diffJson } from './json-diff.ts';
import { noRowsRead, sql } from './sql.ts';

export type WriteTransaction = DatabaseTransactionConnection;

/**
 * The write lock. A write that may touch anything (the default) takes it exclusively, first, and so
 * runs alone. A write to one flag (`inWriteTransaction`'s `flagKey`) takes it shared, with that
 * flag's own lock, so writes to different flags run side by side while writes to one flag queue in
 * order with their version checks. docs/write-path.md argues the design.
 */
export const WRITE_LOCK_KEY = 7_233_002;

/** With a flag key's hash, the lock of that one flag (the two-key form: no collision with the keys above). */
export const FLAG_LOCK_CLASS = 7_233_004;

/**
 * Taken by a write that changes which flags and segments a flag refers to: those are checked against
 * everything else (missing, archived, a prerequisite loop), so two of them must not check at once.
 */
export const REFERENCES_LOCK_KEY = 7_233_005;

export { CHANGES_CHANNEL };

export interface ChangeNotice {
  /** The outbox id of the event: a global, gapless-in-commit-order change counter. */
  seq: number;
  type: string;
  entityKey: string | null;
}

/** How long a write may take from its start to its commit when its pool sets nothing else. */
const DEFAULT_WRITE_TIMEOUT_MS = 1_500;

const writeTimeouts = new WeakMap<DatabasePool, number>();

/** Sets the deadline of every write through `db` (createDatabasePool does it from its options). */
export function setWriteTimeout(db: DatabasePool, timeoutMs: number): void {
  writeTimeouts.set(db, timeoutMs);
}

/** Pools made by `dryRunOf`: their write transactions roll back once the work is done. */
const dryRuns = new WeakSet<DatabasePool>();

/** Carries a dry run's result out of the transaction it rolls back. */
class DryRunDone {
  readonly result: unknown;
  constructor(result: unknown) {
    this.result = result;
  }
}

/**
 * The same pool, except that a write through it is a dry run: `inWriteTransaction` runs the whole
 * write, every lock, check, row, audit entry and outbox event, and then rolls it back instead of
 * committing, and returns what the write returned. Nothing is committed and no NOTIFY is delivered;
 * only sequence numbers are spent (ids are not gapless, a failed write spends them too). Reads
 * through it go to the pool as always.
 */
export function dryRunOf(db: DatabasePool): DatabasePool {
  const dryRun = Object.create(db) as DatabasePool;
  dryRuns.add(dryRun);
  const signer = auditSignerOf(db);
  if (signer) useAuditSigner(dryRun, signer);
  const timeoutMs = writeTimeouts.get(db);
  if (timeoutMs !== undefined) writeTimeouts.set(dryRun, timeoutMs);
  return dryRun;
}

/**
 * The audit entries and events a write transaction (or one of its savepoints) appended, in order.
 * They are inserted in one statement when the work is done, and sequenced once the write commits.
 */
interface PendingAppends {
  /** The write transaction's id (txid_current()), which its audit entries' seals cover (sql/020). */
  transactionId: number;
  audit: { content: string; keyId: string; seal: string }[];
  /** Serialised when appended, as the write saw them. */
  events: { type: EventType; entityKey: string | null; payload: string }[];
}

const pendingAppends = new WeakMap<object, PendingAppends>();

function pendingAppendsOf(tx: WriteTransaction): PendingAppends {
  const appends = pendingAppends.get(tx);
  if (!appends) throw new Error('audit entries and events are appended in inWriteTransaction: its commit sequences them');
  return appends;
}

/** One round trip for everything the write appended, in the order it appended it. */
async function insertPendingAppends(tx: WriteTransaction, appends: PendingAppends): Promise<void> {
  const { audit, events } = appends;
  await tx.query(sql.prepared('appends_insert_pending', noRowsRead)`
    WITH audit AS (
      INSERT INTO audit_pending (content, key_id, seal)
      SELECT content, key_id, seal
      FROM unnest(${sql.array(audit.map((entry) => entry.content), 'text')}, ${sql.array(audit.map((entry) => entry.keyId), 'text')}, ${sql.array(audit.map((entry) => entry.seal), 'text')})
        WITH ORDINALITY AS entry (content, key_id, seal, position)
      ORDER BY position
      RETURNING 1
    ), events AS (
      INSERT INTO outbox_pending (type, entity_key, payload)
      SELECT type, entity_key, payload::jsonb
      FROM unnest(${sql.array(events.map((event) => event.type), 'text')}, ${sql.array(events.map((event) => event.entityKey), 'text')}, ${sql.array(events.map((event) => event.payload), 'text')})
        WITH ORDINALITY AS event (type, entity_key, payload, position)
      ORDER BY position
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM audit) + (SELECT count(*) FROM events) AS appended`);
}

/** What a write may change: one flag, or only appends; `everything` runs alone. */
export type WriteScope = 'everything' | { flagKey: string } | { appendsOnly: true };

/**
 * Runs `work` in one transaction holding the write lock; everything it writes commits or none of it.
 * Given a `flagKey`, the write holds the lock shared and that flag's own lock: it may then change that
 * flag only (and append its audit entries and events), and must call `lockReferences` before checking
 * references it changes. Given `appendsOnly`, it holds the lock shared and may only append events
 * (an SDK's exposure batch).
 *
 * A write has a deadline (the pool's write timeout): waiting for a pool connection, for the write
 * lock and for each statement all count against it, and the database itself cuts off statements and
 * lock waits at what is left of it. When the deadline passes before the work is done, the caller
 * gets `unavailable` at once and the transaction is marked abandoned: if it still gets a connection
 * or finishes its work later, it rolls back instead of committing. Only once the work is done and
 * COMMIT is on its way does the deadline stop applying, because from then on the outcome is the
 * commit's, and answering before it would leave the caller guessing. So a write answered
 * `unavailable` is never committed afterwards, except when the connection breaks during COMMIT
 * itself; that one answer says its outcome is unknown.
 */
export async function inWriteTransaction<T>(db: DatabasePool, work: (tx: WriteTransaction) => Promise<T>, scope: WriteScope = 'everything'): Promise<T> {
  const signer = auditSignerOf(db);
  const timeoutMs = writeTimeouts.get(db) ?? DEFAULT_WRITE_TIMEOUT_MS;
  const started = performance.now();
  const write: { state: 'working' | 'abandoned' | 'committing' } = { state: 'working' };
  // Asked through a function: the deadline's timer changes the state while the work awaits.
  const abandoned = (): boolean => write.state === 'abandoned';
  const appends: PendingAppends = { transactionId: 0, audit: [], events: [] };
  const transaction = keepingConnection(db, (connection) => connection.transaction(async (tx) => {
    if (signer) useAuditSigner(tx, signer);
    pendingAppends.set(tx, appends);
    const left = Math.ceil(timeoutMs - (performance.now() - started));
    if (abandoned() || left <= 0) throw writeTimedOut(timeoutMs);
    // One round trip: the subquery (volatile, so never flattened into the outer query) sets the
    // timeouts before the lock is waited for, and the wait is then cut off at what is left.
    // The shared write lock is taken before the flag's, as every write takes its locks: in one order.
    const [statement, locks] = scope === 'everything'
      ? ['write_begin_alone', sql.fragment`pg_advisory_xact_lock(${WRITE_LOCK_KEY})`] as const
      : 'flagKey' in scope
        ? ['write_begin_flag', sql.fragment`pg_advisory_xact_lock_shared(${WRITE_LOCK_KEY}), pg_advisory_xact_lock(${FLAG_LOCK_CLASS}, hashtext(${scope.flagKey}))`] as const
        : ['write_begin_appends', sql.fragment`pg_advisory_xact_lock_shared(${WRITE_LOCK_KEY})`] as const;
    // It also draws the transaction's id, which seals its audit entries (see signPending).
    ({ xid: appends.transactionId } = await tx.one(sql.prepared(statement, z.object({ xid: z.number() }))`
      SELECT ${locks}, txid_current() AS xid
      FROM (SELECT set_config('statement_timeout', ${String(left)}, true), set_config('lock_timeout', ${String(left)}, true)) AS deadline`));
    const result = await work(tx);
    if (appends.audit.length + appends.events.length > 0) await insertPendingAppends(tx, appends);
    if (abandoned()) throw writeTimedOut(timeoutMs);
    if (dryRuns.has(db)) throw new DryRunDone(result);
    write.state = 'committing';
    return result;
  }));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      if (write.state !== 'working') return;
      write.state = 'abandoned';
      reject(writeTimedOut(timeoutMs));
    }, timeoutMs);
  });
  // An abandoned transaction still settles later (rolled back); nobody waits for it any more.
  transaction.catch(() => undefined);
  try {
    const result = await Promise.race([transaction, deadline]);
    clearTimeout(timer);
    // Committed. Its audit entries and events get their ids now, with whatever else committed
    // meanwhile, so that they are in the log when the caller answers (waiting at most the deadline).
    if (appends.audit.length + appends.events.length > 0) await sequenceCommitted(db, timeoutMs);
    return result;
  } catch (error) {
    if (error instanceof DryRunDone) return error.result as T;
    if (!isDatabaseUnavailable(error)) throw error;
    if (write.state === 'committing') {
      throw new AppError('unavailable', 'the connection to PostgreSQL broke while the write was committing: it may or may not have been committed; read the current version (or the audit log) before retrying', { outcome: 'unknown' });
    }
    throw new AppError('unavailable', 'PostgreSQL cannot be reached: the write was not committed; retry later', { outcome: 'not_committed' }, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** Whether an error came from PostgreSQL or the connection (slonik's errors, a SQLSTATE), not from the write's own code. */
function fromTheDriver(error: unknown): boolean {
  if (error instanceof SlonikError) return true;
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/**
 * Runs `work` on a pool connection. slonik destroys the connection whenever the work throws, whatever
 * the error, so every refused write (a version conflict, a failed check, a dry run's rollback) cost a
 * new connection: a backend process and a SCRAM exchange. When the error is the write's own, the
 * transaction has rolled back and the connection is sound: it is carried out of slonik's handler,
 * so the connection goes back to the pool, and thrown from here.
 */
async function keepingConnection<T>(db: DatabasePool, work: (connection: DatabasePoolConnection) => Promise<T>): Promise<T> {
  const outcome = await db.connect(async (connection): Promise<{ value: T } | { refused: unknown }> => {
    try {
      return { value: await work(connection) };
    } catch (error) {
      if (fromTheDriver(error)) throw error;
      return { refused: error };
    }
  });
  if ('refused' in outcome) throw outcome.refused;
  return outcome.value;
}

function writeTimedOut(timeoutMs: number): AppError {
  return new AppError('unavailable', `the write did not complete within ${timeoutMs} ms and was rolled back; retry later`, { outcome: 'not_committed' });
}

/**
 * Before a write checks the flags and segments it newly refers to: one such check at a time, each
 * seeing the others' commits. Within a write that runs alone it is already so, and this costs a round trip.
 */
export async function lockReferences(tx: WriteTransaction): Promise<void> {
  await tx.query(sql.typeAlias('void')`SELECT pg_advisory_xact_lock(${REFERENCES_LOCK_KEY})`);
}

/** Runs `work` in a savepoint of `tx`: a failure rolls back what it wrote, and only that. */
export async function inSavepoint<T>(tx: WriteTransaction, work: (savepoint: WriteTransaction) => Promise<T>): Promise<T> {
  const signer = auditSignerOf(tx);
  const appends = pendingAppends.get(tx);
  // What the savepoint appends joins the write's appends only if the savepoint is kept.
  const own: PendingAppends = { transactionId: appends?.transactionId ?? 0, audit: [], events: [] };
  try {
    const result = await tx.transaction(async (savepoint) => {
      if (signer) useAuditSigner(savepoint, signer);
      pendingAppends.set(savepoint, own);
      return work(savepoint);
    });
    appends?.audit.push(...own.audit);
    appends?.events.push(...own.events);
    return result;
  } finally {
    // slonik hands the savepoint the transaction's own connection object.
    if (appends) pendingAppends.set(tx, appends);
  }
}

/** What an audit entry can be about: its `entityType`, and the audit list's filter. */
export const AUDIT_ENTITY_TYPES = ['flag', 'segment', 'killswitch', 'token', 'webhook', 'rollout', 'change_request', 'scheduled_change', 'retention'] as const;
export type AuditEntityType = (typeof AUDIT_ENTITY_TYPES)[number];

export interface AuditInput {
  actor: Actor;
  /** The id of the second person of a two-person change. */
  approver?: string;
  action: string;
  entityType: AuditEntityType;
  entityKey: string;
  version?: number;
  before: unknown;
  after: unknown;
}

/**
 * Appends an audit entry. It waits unnumbered, with this process's seal of its content, until
 * the write commits; the sequencer then gives it its id and place in the chain, which the database
 * hashes, and signs that hash with the audit key, which the database never sees (sql/020).
 */
export async function appendAudit(tx: WriteTransaction, entry: AuditInput): Promise<void> {
  const signer = auditSignerOf(tx);
  if (!signer) throw new Error('audit entries are signed: write them in inWriteTransaction on a pool opened with an audit signer');
  const appends = pendingAppendsOf(tx);
  const content = JSON.stringify({
    actor: entry.actor.id,
    actorName: entry.actor.name,
    tokenId: entry.actor.tokenId,
    approver: entry.approver ?? null,
    action: entry.action,
    entityType: entry.entityType,
    entityKey: entry.entityKey,
    version: entry.version ?? null,
    before: entry.before ?? null,
    after: entry.after ?? null,
    diff: diffJson(entry.before ?? null, entry.after ?? null),
  });
  appends.audit.push({ content, keyId: signer.keyId, seal: signer.signPending(appends.transactionId, content) });
}

export interface EventInput {
  type: EventType;
  entityKey: string | null;
  payload: Record<string, unknown>;
}

/**
 * Appends an event to the outbox. Like an audit entry it waits unnumbered until the write commits;
 * the sequencer gives it its id and announces it with NOTIFY.
 */
export async function appendEvent(tx: WriteTransaction, event: EventInput): Promise<void> {
  pendingAppendsOf(tx).events.push({ type: event.type, entityKey: event.entityKey, payload: JSON.stringify(event.payload) });
}

/**
 * Appends an event that gets its outbox id at once, for a caller that answers with it (an SDK's
 * exposure or tracking batch). It takes the append lock for itself and holds it to commit, so it
 * must be about no entity whose events are ordered (entityKey null): it may land before a
 * sequenced event of a write that committed earlier.
 */
export async function appendEventNumbered(tx: WriteTransaction, event: EventInput & { entityKey: null }): Promise<number> {
  // One round trip for the append lock, the row and the notice; the notice's JSON has the ChangeNotice shape.
  const row = await tx.one(sql.type(z.object({ id: z.number(), notified: z.boolean() }))`
    WITH event AS (
      INSERT INTO outbox (type, entity_key, payload)
      SELECT ${event.type}, NULL, ${sql.jsonb(event.payload as object)} FROM (SELECT pg_advisory_xact_lock(${APPEND_LOCK_KEY})) AS append
      RETURNING id, type, entity_key
    )
    SELECT id, pg_notify(${CHANGES_CHANNEL}, json_build_object('seq', id, 'type', type, 'entityKey', entity_key)::text) IS NULL AS notified
    FROM event`);
  return row.id;
}
