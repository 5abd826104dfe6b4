import type { DatabasePool } from 'slonik';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { auditSignerOf, type AuditSigner } from './audit-signer.ts';
import { isDatabaseUnavailable } from './database-errors.ts';
import { noRowsRead, sql } from './sql.ts';

/**
 * Taken by whatever gives audit entries and outbox events their ids, and held to commit: ids are
 * handed out in commit order, so the audit chain links entries in id order and the committed outbox
 * is a prefix in id order. The sequencer takes it for a whole batch of writes; an append that needs
 * its id at once (appendEventNumbered) takes it for itself.
 */
export const APPEND_LOCK_KEY = 7_233_003;

/** The channel every committed change is announced on; the payload is a `ChangeNotice`. */
export const CHANGES_CHANNEL = 'flag_changes';

const pendingRows = z.object({
  audit: z.array(z.object({ id: z.number(), content: z.string(), key_id: z.string(), seal: z.string(), xact: z.number() })),
  events: z.array(z.number()),
});

const sequencedRow = z.object({ kind: z.enum(['audit', 'event']), id: z.number(), hash: z.string().nullable() });

/** How long one sequencing statement, or the wait for the append lock, may take. */
const SEQUENCING_TIMEOUT_MS = 5_000;

type Report = (level: 'error' | 'warn', details: object, message: string) => void;

/** The statement that moves the given pending rows; ids are drawn as the rows are selected, in pending order. */
function moveStatement(auditIds: readonly number[], eventIds: readonly number[]) {
  // The chain trigger links each entry to the one inserted before it, earlier rows of this same statement included.
  return sql.prepared('appends_move', sequencedRow)`
    WITH audit_moved AS (
      DELETE FROM audit_pending WHERE id = ANY(${sql.array(auditIds, 'int8')}) RETURNING id, content::jsonb AS c
    ), audit_added AS (
      INSERT INTO audit_log (actor, actor_name, token_id, approver, action, entity_type, entity_key, version, before, after, diff, prev_hash, hash)
      SELECT c->>'actor', c->>'actorName', c->>'tokenId', c->>'approver', c->>'action', c->>'entityType', c->>'entityKey',
             (c->>'version')::integer, nullif(c->'before', 'null'::jsonb), nullif(c->'after', 'null'::jsonb), c->'diff', '', ''
      FROM audit_moved ORDER BY id
      RETURNING id, hash
    ), events_moved AS (
      DELETE FROM outbox_pending WHERE id = ANY(${sql.array(eventIds, 'int8')}) RETURNING id, type, entity_key, payload
    ), events_added AS (
      INSERT INTO outbox (type, entity_key, payload)
      SELECT type, entity_key, payload FROM events_moved ORDER BY id
      RETURNING id, type, entity_key
    )
    SELECT 'audit' AS kind, id, hash FROM audit_added
    UNION ALL
    SELECT 'event', event.id, NULL
    FROM events_added AS event
    CROSS JOIN LATERAL (SELECT pg_notify(${CHANGES_CHANNEL}, json_build_object('seq', event.id, 'type', event.type, 'entityKey', event.entity_key)::text)) AS notice`;
}

/**
 * Moves every committed pending append (sql/020) into audit_log and outbox, in one transaction under
 * the append lock: the audit entries in the order they were written, chained by the audit_log
 * trigger and signed with `signer`; the events likewise, each announced with NOTIFY. Answers how
 * many rows moved. Moving is idempotent: rows another sequencer moved meanwhile are simply gone.
 *
 * - An entry is chained only if its seal verifies for the transaction that inserted it (`xact`, set
 *   by a trigger): a row written by anyone without the audit key, or copied from another write, is refused.
 * - Entries sealed with another key wait for a process holding it (every process should share one).
 * - A row the log cannot take (a bug: NOTIFY's 8,000-byte limit, a constraint) must not stop every
 *   row after it: when the batch fails, each row is moved on its own, and a row that still fails
 *   is set aside (deleted) and reported with its content.
 * Without a signer only the events move.
 */
async function sequencePending(db: DatabasePool, signer: AuditSigner | undefined, report: Report): Promise<number> {
  return db.transaction(async (tx) => {
    // The lock and the read are one round trip; the read's snapshot may predate the lock, so rows
    // committed while it was awaited are left for the next run, and the moves below take only rows
    // still pending when they run. The timeouts are set before the lock is waited for.
    const pending = await tx.oneFirst(sql.prepared(signer ? 'appends_pending_sealed' : 'appends_pending_events', z.object({ pending: pendingRows }))`
      SELECT json_build_object(
        'audit', ${signer ? sql.fragment`(SELECT coalesce(json_agg(p ORDER BY p.id), '[]') FROM (SELECT id, content, key_id, seal, xact FROM audit_pending) p)` : sql.fragment`'[]'::json`},
        'events', (SELECT coalesce(json_agg(id ORDER BY id), '[]') FROM outbox_pending)
      ) AS pending
      FROM (
        SELECT pg_advisory_xact_lock(${APPEND_LOCK_KEY})
        FROM (SELECT set_config('statement_timeout', ${String(SEQUENCING_TIMEOUT_MS)}, true), set_config('lock_timeout', ${String(SEQUENCING_TIMEOUT_MS)}, true)) AS limits
      ) AS append`);
    if (pending.audit.length === 0 && pending.events.length === 0) return 0;
    const sealed: number[] = [];
    const refused: typeof pending.audit = [];
    const foreign = new Set<string>();
    for (const entry of pending.audit) {
      if (entry.key_id !== signer!.keyId) foreign.add(entry.key_id);
      else if (signer!.verifyPending(entry.xact, entry.content, entry.seal)) sealed.push(entry.id);
      else refused.push(entry);
    }
    if (foreign.size > 0) {
      report('error', { keyIds: [...foreign], thisKeyId: signer!.keyId }, 'audit entries sealed with another audit key wait to be sequenced by a process holding that key: every API process and the worker must use one audit key');
    }
    const sequenced: z.infer<typeof sequencedRow>[] = [];
    try {
      sequenced.push(...await tx.transaction((savepoint) => savepoint.any(moveStatement(sealed, pending.events))));
    } catch {
      for (const [auditIds, eventIds] of [...sealed.map((id) => [[id], []]), ...pending.events.map((id) => [[], [id]])] as [number[], number[]][]) {
        try {
          sequenced.push(...await tx.transaction((savepoint) => savepoint.any(moveStatement(auditIds, eventIds))));
        } catch (error) {
          const table = auditIds.length ? 'audit_pending' : 'outbox_pending';
          const setAside = await tx.any(sql.type(z.object({ row: z.unknown() }))`
            DELETE FROM ${sql.identifier([table])} WHERE id = ${auditIds[0] ?? eventIds[0]!} RETURNING to_jsonb(${sql.identifier([table])}.*) AS row`);
          if (setAside.length) report('error', { err: error, row: setAside[0]!.row }, `a committed ${auditIds.length ? 'audit entry' : 'event'} could not be sequenced and was set aside: its write stands, but the log does not hold it`);
        }
      }
    }
    const entries = sequenced.filter((row) => row.kind === 'audit');
    if (signer && entries.length > 0) {
      await tx.query(sql.prepared('audit_signatures_insert', noRowsRead)`
        INSERT INTO audit_signatures (entry_id, key_id, signature)
        SELECT * FROM unnest(
          ${sql.array(entries.map((entry) => entry.id), 'int8')},
          ${sql.array(entries.map(() => signer.keyId), 'text')},
          ${sql.array(entries.map((entry) => signer.signEntry(entry.id, entry.hash!)), 'text')})`);
    }
    if (refused.length > 0) {
      const gone = await tx.anyFirst(sql.type(z.object({ id: z.number() }))`
        DELETE FROM audit_pending WHERE id = ANY(${sql.array(refused.map((entry) => entry.id), 'int8')}) RETURNING id`);
      if (gone.length > 0) {
        report('error', { refused: refused.filter((entry) => gone.includes(entry.id)).map((entry) => ({ pendingId: entry.id, keyId: entry.key_id, content: entry.content })) },
          'audit entries waiting to be sequenced were refused: their seal does not match (written without the audit key, or copied from another write)');
      }
    }
    return sequenced.length;
  });
}

/**
 * Runs the sequencer for one pool, grouping callers: `flush()` resolves once a run that started
 * after the call has committed, so everything its caller committed before calling is in the log by
 * then. While one run is in flight, every caller that arrives waits for the single next run, which
 * serves them all: a burst of writes costs a few sequencing transactions, not one each.
 */
class AppendSequencer {
  readonly #db: DatabasePool;
  #log: Logger | undefined;
  #running = false;
  #next: PromiseWithResolvers<number> | undefined;
  readonly #lastReported = new Map<string, number>();

  constructor(db: DatabasePool) {
    this.#db = db;
  }

  set log(log: Logger) {
    this.#log = log;
  }

  /** Resolves with how many rows the run that served this call moved (others' rows included). */
  flush(): Promise<number> {
    this.#next ??= Promise.withResolvers<number>();
    const { promise } = this.#next;
    if (!this.#running) void this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#next) {
      const batch = this.#next;
      this.#next = undefined;
      try {
        batch.resolve(await sequencePending(this.#db, auditSignerOf(this.#db), this.#report));
      } catch (error) {
        batch.reject(error);
      }
    }
    this.#running = false;
  }

  /** The same complaint at most once a minute: a misconfiguration would otherwise repeat it on every write. */
  readonly #report: Report = (level, details, message) => {
    const now = Date.now();
    if (now - (this.#lastReported.get(message) ?? Number.NEGATIVE_INFINITY) < 60_000 && !('row' in details || 'refused' in details)) return;
    this.#lastReported.set(message, now);
    if (this.#log) this.#log[level](details, message);
    else console.error(message, JSON.stringify(details));
  };
}

const sequencers = new WeakMap<DatabasePool, AppendSequencer>();

function sequencerOf(db: DatabasePool): AppendSequencer {
  let sequencer = sequencers.get(db);
  if (!sequencer) {
    sequencer = new AppendSequencer(db);
    sequencers.set(db, sequencer);
  }
  return sequencer;
}

/**
 * Sequences every committed pending append of `db`'s database; resolves once they are in the log,
 * with how many rows moved. Runs are grouped: a caller arriving during a run waits for the next.
 */
export function flushAppends(db: DatabasePool): Promise<number> {
  return sequencerOf(db).flush();
}

/**
 * Waits, at most `waitAtMostMs`, for a sequencing run to put everything committed so far in the log:
 * after a write (its own entries and events are in the log when it answers) and before a read of the
 * audit log (the answer holds every change committed before it was asked for, whoever wrote it).
 * Whatever goes wrong here, the write stands and the read goes on; the next run, or the sweep,
 * sequences what is left.
 */
export async function sequenceCommitted(db: DatabasePool, waitAtMostMs = SEQUENCING_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitAtMostMs);
  });
  try {
    await Promise.race([flushAppends(db).catch(() => undefined), gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/** How often API processes and the worker look for appends a write committed but did not sequence. */
export const APPEND_SWEEP_INTERVAL_MS = 2_000;

/**
 * A write sequences its own appends right after it commits; what a process that died between the
 * two left behind (or a write whose sequencing failed) is picked up here: every `intervalMs`, when
 * an append this process can sequence has waited longer than `intervalMs`, one flush. Returns the stop.
 */
export function startAppendSweep(db: DatabasePool, options: { log: Logger; intervalMs: number }): () => void {
  sequencerOf(db).log = options.log;
  const keyId = auditSignerOf(db)?.keyId ?? null;
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void (async () => {
      try {
        const age = sql.fragment`clock_timestamp() - make_interval(secs => ${options.intervalMs / 1000})`;
        const waiting = await db.oneFirst(sql.type(z.object({ waiting: z.boolean() }))`
          SELECT EXISTS (SELECT FROM audit_pending WHERE at < ${age} AND key_id = ${keyId})
              OR EXISTS (SELECT FROM outbox_pending WHERE at < ${age}) AS waiting`);
        if (!waiting) return;
        const moved = await flushAppends(db);
        if (moved > 0) options.log.warn({ moved }, 'sequenced audit entries and events that writes had committed but not sequenced (a process stopped, or PostgreSQL failed, in between)');
      } catch (error) {
        // An outage is announced once by the process's database status, not every sweep.
        const level = isDatabaseUnavailable(error) ? 'debug' : 'warn';
        options.log[level]({ err: error }, 'sequencing the audit entries and events that wait failed; the next sweep tries again');
      } finally {
        sweeping = false;
      }
    })();
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
