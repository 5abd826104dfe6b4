import { z } from 'zod';
import type { Flag, Rollout } from '@flagship/engine';
import { AppError } from '../errors.ts';
import { describeRollout } from '../domain/rollout-format.ts';
import { actorNamed } from './actor.ts';
import { assertNoRunningRollout } from './assert-no-running-rollout.ts';
import { getFlag, patchFlagIn } from './flags.ts';
import type { DatabasePool } from './pool.ts';
import { jsonbOrNull, sql, timestampOrNull } from './sql.ts';
import { appendAudit, appendEvent, inWriteTransaction, type WriteTransaction } from './write-transaction.ts';
import type { RolloutPlan } from '../domain/rollout-plan.ts';
import { ACTIVE_ROLLOUT_STATES, isActiveRollout, type PauseCause, ROLLOUT_STATES, type RolloutState } from '../domain/rollout-state.ts';

const rolloutRow = z.object({
  id: z.string(),
  flag_key: z.string(),
  workflow_id: z.string(),
  run_id: z.string().nullable(),
  state: z.enum(ROLLOUT_STATES),
  plan: z.record(z.string(), z.unknown()),
  start_rollout: z.record(z.string(), z.unknown()).nullable(),
  expected_rollout: z.record(z.string(), z.unknown()).nullable(),
  current_step: z.number(),
  schedule_offset_ms: z.number(),
  next_step_at: z.number().nullable(),
  pause_cause: z.string().nullable(),
  pause_reason: z.string().nullable(),
  paused_by: z.string().nullable(),
  paused_at: z.number().nullable(),
  rolled_back: z.boolean(),
  end_reason: z.string().nullable(),
  started_by: z.string(),
  reason: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
  finished_at: z.number().nullable(),
});
type RolloutRow = z.infer<typeof rolloutRow>;

const ROLLOUT_COLUMNS = sql.fragment`id, flag_key, workflow_id, run_id, state, plan, start_rollout, expected_rollout, current_step,
  schedule_offset_ms, next_step_at, pause_cause, pause_reason, paused_by, paused_at, rolled_back, end_reason, started_by, reason,
  created_at, updated_at, finished_at`;

const historyRow = z.object({
  seq: z.number(),
  kind: z.string(),
  at: z.number(),
  actor: z.string(),
  step_index: z.number().nullable(),
  target_at: z.number().nullable(),
  flag_version: z.number().nullable(),
  rollout: z.record(z.string(), z.unknown()).nullable(),
  cause: z.string().nullable(),
  reason: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
});
type HistoryRow = z.infer<typeof historyRow>;

const HISTORY_COLUMNS = sql.fragment`seq, kind, at, actor, step_index, target_at, flag_version, rollout, cause, reason, details`;

export type HistoryKind = 'scheduled' | 'started' | 'step_applied' | 'paused' | 'resumed' | 'completed' | 'cancelled' | 'rolled_back' | 'failed';

export interface RolloutHistoryEntry {
  seq: number;
  kind: string;
  at: string;
  actor: string;
  stepIndex: number | null;
  /** For an applied step: when it was due (its target, moved by any shift and minimum dwell), and how late it landed after that (ms). */
  targetAt: string | null;
  driftMs: number | null;
  flagVersion: number | null;
  rollout: Rollout | null;
  cause: string | null;
  reason: string | null;
  details: Record<string, unknown> | null;
}

export interface RolloutRecord {
  id: string;
  flagKey: string;
  workflowId: string;
  runId: string | null;
  state: RolloutState;
  plan: RolloutPlan;
  startRollout: Rollout | null;
  expectedRollout: Rollout | null;
  currentStep: number;
  scheduleOffsetMs: number;
  nextStepAt: number | null;
  pause: { cause: string; reason: string | null; by: string; at: number } | null;
  rolledBack: boolean;
  endReason: string | null;
  startedBy: string;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

function toRecord(row: RolloutRow): RolloutRecord {
  return {
    id: row.id,
    flagKey: row.flag_key,
    workflowId: row.workflow_id,
    runId: row.run_id,
    state: row.state,
    plan: row.plan as unknown as RolloutPlan,
    startRollout: row.start_rollout as Rollout | null,
    expectedRollout: row.expected_rollout as Rollout | null,
    currentStep: row.current_step,
    scheduleOffsetMs: row.schedule_offset_ms,
    nextStepAt: row.next_step_at,
    pause: row.pause_cause && row.paused_at !== null
      ? { cause: row.pause_cause, reason: row.pause_reason, by: row.paused_by ?? 'unknown', at: row.paused_at }
      : null,
    rolledBack: row.rolled_back,
    endReason: row.end_reason,
    startedBy: row.started_by,
    reason: row.reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

function toHistoryEntry(row: HistoryRow): RolloutHistoryEntry {
  return {
    seq: row.seq,
    kind: row.kind,
    at: new Date(row.at).toISOString(),
    actor: row.actor,
    stepIndex: row.step_index,
    targetAt: row.target_at === null ? null : new Date(row.target_at).toISOString(),
    driftMs: row.target_at === null || row.kind !== 'step_applied' ? null : Math.round(row.at - row.target_at),
    flagVersion: row.flag_version,
    rollout: row.rollout as Rollout | null,
    cause: row.cause,
    reason: row.reason,
    details: row.details,
  };
}

/** Documents compare equal when they hold the same data, whatever their key order. */
function sameRollout(a: Rollout | null | undefined, b: Rollout | null | undefined): boolean {
  return JSON.stringify(canonical(a ?? null)) === JSON.stringify(canonical(b ?? null));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

const activeStates = sql.array([...ACTIVE_ROLLOUT_STATES], 'text');

export async function getRollout(db: DatabasePool | WriteTransaction, id: string): Promise<RolloutRecord | null> {
  const row = await db.maybeOne(sql.type(rolloutRow)`SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE id = ${id}`);
  return row ? toRecord(row) : null;
}

/** The flag's active rollout, or else its most recent one. */
export async function currentRolloutForFlag(db: DatabasePool, flagKey: string): Promise<RolloutRecord | null> {
  const row = await db.maybeOne(sql.type(rolloutRow)`
    SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE flag_key = ${flagKey}
    ORDER BY (state = ANY(${activeStates})) DESC, created_at DESC, id DESC LIMIT 1`);
  return row ? toRecord(row) : null;
}

export async function listRolloutsForFlag(db: DatabasePool, flagKey: string, limit: number): Promise<RolloutRecord[]> {
  const rows = await db.any(sql.type(rolloutRow)`
    SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE flag_key = ${flagKey} ORDER BY created_at DESC, id DESC LIMIT ${limit}`);
  return rows.map(toRecord);
}

/** Rollouts in the given states across all flags, oldest first (the runbook's "what is running"). */
export async function listRollouts(db: DatabasePool, states: readonly RolloutState[], limit: number): Promise<RolloutRecord[]> {
  const rows = await db.any(sql.type(rolloutRow)`
    SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE state = ANY(${sql.array([...states], 'text')}) ORDER BY created_at, id LIMIT ${limit}`);
  return rows.map(toRecord);
}

export async function rolloutHistory(db: DatabasePool, rolloutId: string): Promise<RolloutHistoryEntry[]> {
  const rows = await db.any(sql.type(historyRow)`
    SELECT ${HISTORY_COLUMNS} FROM rollout_history WHERE rollout_id = ${rolloutId} ORDER BY seq, id`);
  return rows.map(toHistoryEntry);
}

/**
 * Accepted plans whose workflow has not started (Temporal did not answer when they were accepted).
 * A plan an approval created is left out: its change request's workflow starts that one itself.
 */
export async function rolloutsAwaitingStart(db: DatabasePool, olderThanMs: number): Promise<RolloutRecord[]> {
  const rows = await db.any(sql.type(rolloutRow)`
    SELECT ${ROLLOUT_COLUMNS} FROM rollouts r
    WHERE state = 'scheduled' AND run_id IS NULL AND created_at < now() - make_interval(secs => ${olderThanMs / 1000})
      AND NOT EXISTS (SELECT 1 FROM change_requests c WHERE c.result ->> 'rolloutId' = r.id)
    ORDER BY created_at LIMIT 100`);
  return rows.map(toRecord);
}

function rolloutEventPayload(record: RolloutRecord, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    rolloutId: record.id,
    flagKey: record.flagKey,
    workflowId: record.workflowId,
    state: record.state,
    currentStep: record.currentStep,
    steps: record.plan.steps.length,
    nextStepAt: record.nextStepAt === null ? null : new Date(record.nextStepAt).toISOString(),
    ...extra,
  };
}

async function insertHistory(
  tx: WriteTransaction,
  entry: {
    rolloutId: string;
    seq: number;
    kind: HistoryKind;
    actor: string;
    stepIndex?: number | null;
    targetAt?: number | null;
    flagVersion?: number | null;
    rollout?: Rollout | null;
    cause?: string | null;
    reason?: string | null;
    details?: Record<string, unknown> | null;
  },
): Promise<void> {
  await tx.query(sql.typeAlias('void')`
    INSERT INTO rollout_history (rollout_id, seq, kind, actor, step_index, target_at, flag_version, rollout, cause, reason, details)
    VALUES (${entry.rolloutId}, ${entry.seq}, ${entry.kind}, ${entry.actor}, ${entry.stepIndex ?? null}, ${timestampOrNull(entry.targetAt)},
            ${entry.flagVersion ?? null}, ${jsonbOrNull(entry.rollout)}, ${entry.cause ?? null}, ${entry.reason ?? null}, ${jsonbOrNull(entry.details)})`);
}

async function historyEntryAt(tx: WriteTransaction, rolloutId: string, seq: number): Promise<HistoryRow | null> {
  return tx.maybeOne(sql.type(historyRow)`SELECT ${HISTORY_COLUMNS} FROM rollout_history WHERE rollout_id = ${rolloutId} AND seq = ${seq}`);
}

async function lockedRollout(tx: WriteTransaction, id: string): Promise<RolloutRecord> {
  const row = await tx.maybeOne(sql.type(rolloutRow)`SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE id = ${id} FOR UPDATE`);
  if (!row) throw new AppError('not_found', `rollout "${id}" does not exist`);
  return toRecord(row);
}

export interface NewRollout {
  id: string;
  flagKey: string;
  workflowId: string;
  startedBy: string;
  /** The second person, when the plan was approved through a change request. */
  approver?: string;
  reason?: string;
  /**
   * Builds the plan from the flag as it is under the write lock (target times, the flag's bucketBy,
   * validation of every step against the flag); throws an AppError to refuse.
   */
  plan: (flag: Flag, tx: WriteTransaction) => RolloutPlan | Promise<RolloutPlan>;
}

/**
 * Accepts a plan: in one transaction, the rollout row (state `scheduled`, owning the flag's rollout
 * from now on), its first history entry, an audit entry and the `flag.rollout_scheduled` event.
 * A plan already owning the flag makes this `rollout_conflict` (the partial unique index is the
 * final word, the check before it gives the readable message).
 */
export async function createRollout(db: DatabasePool, input: NewRollout): Promise<RolloutRecord> {
  return inWriteTransaction(db, (tx) => createRolloutIn(tx, input));
}

/** `createRollout` inside a write transaction the caller holds (an approved change request's). */
export async function createRolloutIn(tx: WriteTransaction, input: NewRollout): Promise<RolloutRecord> {
  const flag = await getFlag(tx, input.flagKey);
  if (!flag || flag.state !== 'active') throw new AppError('not_found', `flag "${input.flagKey}" does not exist${flag ? ' (it is archived)' : ''}`);
  await assertNoRunningRollout(tx, input.flagKey);
  const plan = await input.plan(flag, tx);
  const startRollout = flag.rollout ?? null;
  const row = await tx.one(sql.type(rolloutRow)`
    INSERT INTO rollouts (id, flag_key, workflow_id, state, plan, start_rollout, expected_rollout, next_step_at, started_by, reason)
    VALUES (${input.id}, ${input.flagKey}, ${input.workflowId}, 'scheduled', ${sql.jsonb(plan as unknown as object)},
            ${jsonbOrNull(startRollout)}, ${jsonbOrNull(startRollout)}, ${timestampOrNull(plan.steps[0]?.targetAt)},
            ${input.startedBy}, ${input.reason ?? null})
    RETURNING ${ROLLOUT_COLUMNS}`);
  const record = toRecord(row);
  await insertHistory(tx, { rolloutId: record.id, seq: 0, kind: 'scheduled', actor: input.startedBy, reason: input.reason ?? null, rollout: startRollout });
  await appendAudit(tx, {
    actor: actorNamed(input.startedBy),
    ...(input.approver ? { approver: input.approver } : {}),
    action: 'rollout.scheduled',
    entityType: 'rollout',
    entityKey: input.flagKey,
    before: null,
    after: { rolloutId: record.id, plan, startRollout, reason: input.reason ?? null },
  });
  await appendEvent(tx, {
    type: 'flag.rollout_scheduled',
    entityKey: input.flagKey,
    payload: rolloutEventPayload(record, { actor: input.startedBy, ...(input.approver ? { approver: input.approver } : {}), reason: input.reason ?? null, plan, startRollout }),
  });
  return record;
}

/** Records the run id of the workflow the API started for the rollout. */
export async function setRolloutRunId(db: DatabasePool, id: string, runId: string): Promise<void> {
  await db.query(sql.typeAlias('void')`UPDATE rollouts SET run_id = coalesce(run_id, ${runId}) WHERE id = ${id}`);
}

/**
 * Ends a rollout whose workflow is gone (it never started, or was terminated so it could not record
 * its end): `failed` or `cancelled`, with why. A rollout already ended is left as it is.
 */
export async function abandonRollout(db: DatabasePool, id: string, outcome: { state: 'failed' | 'cancelled'; reason: string; actor: string }): Promise<RolloutRecord> {
  return inWriteTransaction(db, async (tx) => {
    const current = await lockedRollout(tx, id);
    if (!isActiveRollout(current.state)) return current;
    const seq = await tx.oneFirst(sql.type(z.object({ seq: z.number() }))`
      SELECT coalesce(max(seq), 0) + 1000000 AS seq FROM rollout_history WHERE rollout_id = ${id}`);
    const row = await tx.one(sql.type(rolloutRow)`
      UPDATE rollouts SET state = ${outcome.state}, end_reason = ${outcome.reason}, next_step_at = NULL, finished_at = now(), updated_at = now()
      WHERE id = ${id} RETURNING ${ROLLOUT_COLUMNS}`);
    const record = toRecord(row);
    await insertHistory(tx, { rolloutId: id, seq, kind: outcome.state, actor: outcome.actor, reason: outcome.reason });
    await appendAudit(tx, {
      actor: actorNamed(outcome.actor), action: `rollout.${outcome.state}`, entityType: 'rollout', entityKey: record.flagKey,
      before: { rolloutId: id, state: current.state }, after: { rolloutId: id, state: record.state, reason: outcome.reason },
    });
    await appendEvent(tx, { type: `flag.rollout_${outcome.state}`, entityKey: record.flagKey, payload: rolloutEventPayload(record, { actor: outcome.actor, reason: outcome.reason }) });
    return record;
  });
}

export type StepOutcome =
  | { kind: 'applied'; flagVersion: number | null; rollout: Rollout | null; appliedAt: number }
  | { kind: 'already_applied'; flagVersion: number | null; rollout: Rollout | null; appliedAt: number }
  | { kind: 'held'; cause: Exclude<PauseCause, 'manual' | 'gate'>; reason: string; details?: Record<string, unknown> };

export interface ApplyStepInput {
  rolloutId: string;
  flagKey: string;
  /** The workflow's sequence number of this attempt at the step. */
  seq: number;
  stepIndex: number;
  rollout: Rollout;
  /** When the step was due (after any shift, and the minimum dwell), epoch ms: its drift counts from here. */
  targetAt: number;
  /** The plan's own target time (absent from runs recorded before it was sent). */
  plannedAt?: number;
  /** Set when the minimum dwell after the previous step held this one past its scheduled time. */
  minimumDwell?: { afterStep: number; dwellMs: number };
  /** When the step after this one is due, epoch ms; null after the last. */
  nextStepAt: number | null;
  actor: string;
}

/**
 * Applies one step of a plan, idempotently and as a compare-and-set, in one transaction with the
 * flag change, its audit entry and `flag.rollout_progress` event:
 * - a step already recorded as applied is not applied again (a retried activity, a replayed workflow);
 * - nothing is written while auto-progress is disabled, the flag is archived or its killswitch is
 *   engaged: the step is `held`, and the workflow pauses saying why;
 * - the flag's rollout must still be what the plan last left it at; if it was changed another way
 *   the step is `held` (cause `conflict`) instead of overwriting it.
 */
export async function applyRolloutStep(db: DatabasePool, input: ApplyStepInput): Promise<StepOutcome> {
  return inWriteTransaction(db, async (tx) => {
    const record = await lockedRollout(tx, input.rolloutId);
    const done = await tx.maybeOne(sql.type(historyRow)`
      SELECT ${HISTORY_COLUMNS} FROM rollout_history WHERE rollout_id = ${input.rolloutId} AND kind = 'step_applied' AND step_index = ${input.stepIndex}`);
    if (done) return { kind: 'already_applied', flagVersion: done.flag_version, rollout: done.rollout as Rollout | null, appliedAt: done.at };
    if (!isActiveRollout(record.state)) {
      return { kind: 'held', cause: 'flag_unavailable', reason: `the rollout record is ${record.state}${record.endReason ? ` (${record.endReason})` : ''}` };
    }
    const settings = await readAutoProgress(tx);
    if (!settings.enabled) {
      return { kind: 'held', cause: 'auto_progress', reason: `auto-progress disabled${settings.reason ? `: ${settings.reason}` : ''} (by ${settings.updatedBy})` };
    }
    const flag = await getFlag(tx, record.flagKey);
    if (!flag || flag.state !== 'active') return { kind: 'held', cause: 'flag_unavailable', reason: `flag "${record.flagKey}" is ${flag ? 'archived' : 'gone'}` };
    if (flag.killswitch) {
      const engaged = await tx.maybeOneFirst(sql.type(z.object({ engaged: z.boolean() }))`
        SELECT engaged FROM killswitches WHERE category = ${flag.killswitch}`);
      if (engaged) return { kind: 'held', cause: 'killswitch', reason: `killswitch "${flag.killswitch}" is engaged` };
    }
    if (!sameRollout(flag.rollout, record.expectedRollout)) {
      return {
        kind: 'held',
        cause: 'conflict',
        reason: `the flag's rollout is ${describeRollout(flag.rollout)}, not ${describeRollout(record.expectedRollout)} where the plan left it; it was changed outside the plan`,
        details: { expected: record.expectedRollout, actual: flag.rollout ?? null, flagVersion: flag.version },
      };
    }
    let next: Flag;
    try {
      next = await patchFlagIn(tx, record.flagKey, { rollout: input.rollout }, flag.version, { actor: actorNamed(input.actor), eventType: 'flag.rollout_progress' });
    } catch (error) {
      // The flag changed since the plan was accepted (a variant removed, a type change): the step no
      // longer fits. Nothing was written; the rollout pauses with the reason.
      if (error instanceof AppError && (error.code === 'validation_error' || error.code === 'prerequisite_cycle')) {
        return { kind: 'held', cause: 'flag_unavailable', reason: `step ${input.stepIndex + 1} no longer fits the flag: ${error.message}` };
      }
      throw error;
    }
    await insertHistory(tx, {
      rolloutId: record.id,
      seq: input.seq,
      kind: 'step_applied',
      actor: input.actor,
      stepIndex: input.stepIndex,
      targetAt: input.targetAt,
      flagVersion: next.version,
      rollout: next.rollout ?? null,
      ...(input.plannedAt !== undefined ? { details: { plannedAt: new Date(input.plannedAt).toISOString(), minimumDwell: input.minimumDwell ?? null } } : {}),
    });
    const applied = await historyEntryAt(tx, record.id, input.seq);
    await tx.query(sql.typeAlias('void')`
      UPDATE rollouts SET current_step = ${input.stepIndex}, expected_rollout = ${jsonbOrNull(next.rollout)}, state = 'running',
        next_step_at = ${timestampOrNull(input.nextStepAt)}, pause_cause = NULL, pause_reason = NULL, paused_by = NULL, paused_at = NULL,
        updated_at = now()
      WHERE id = ${record.id}`);
    return { kind: 'applied', flagVersion: next.version, rollout: next.rollout ?? null, appliedAt: applied?.at ?? Date.now() };
  });
}

export interface TransitionInput {
  rolloutId: string;
  seq: number;
  kind: 'started' | 'paused' | 'resumed';
  actor: string;
  cause?: PauseCause;
  reason?: string | null;
  details?: Record<string, unknown>;
  /** Epoch ms of the pause (workflow time). */
  at?: number;
  runId?: string;
  nextStepAt: number | null;
  scheduleOffsetMs: number;
}

/**
 * Records a control transition of a running rollout (started, paused, resumed) with its audit entry
 * and event (`flag.rollout_paused` says why: cause, reason, who). Idempotent by (rollout, seq).
 */
export async function recordRolloutTransition(db: DatabasePool, input: TransitionInput): Promise<RolloutRecord> {
  return inWriteTransaction(db, async (tx) => {
    const before = await lockedRollout(tx, input.rolloutId);
    if (await historyEntryAt(tx, input.rolloutId, input.seq)) return before;
    const state: RolloutState = input.kind === 'paused' ? 'paused' : 'running';
    const paused = input.kind === 'paused';
    const row = await tx.one(sql.type(rolloutRow)`
      UPDATE rollouts SET state = ${state},
        pause_cause = ${paused ? (input.cause ?? 'manual') : null}, pause_reason = ${paused ? (input.reason ?? null) : null},
        paused_by = ${paused ? input.actor : null}, paused_at = ${paused ? timestampOrNull(input.at ?? Date.now()) : null},
        schedule_offset_ms = ${input.scheduleOffsetMs}, next_step_at = ${timestampOrNull(input.nextStepAt)},
        run_id = coalesce(${input.runId ?? null}, run_id), updated_at = now()
      WHERE id = ${input.rolloutId} RETURNING ${ROLLOUT_COLUMNS}`);
    const record = toRecord(row);
    await insertHistory(tx, {
      rolloutId: record.id,
      seq: input.seq,
      kind: input.kind,
      actor: input.actor,
      stepIndex: record.currentStep,
      cause: input.cause ?? null,
      reason: input.reason ?? null,
      details: input.details ?? null,
    });
    if (input.kind !== 'started') {
      await appendAudit(tx, {
        actor: actorNamed(input.actor),
        action: `rollout.${input.kind}`,
        entityType: 'rollout',
        entityKey: record.flagKey,
        before: { rolloutId: record.id, state: before.state },
        after: { rolloutId: record.id, state: record.state, cause: input.cause ?? null, reason: input.reason ?? null },
      });
      await appendEvent(tx, {
        type: `flag.rollout_${input.kind}`,
        entityKey: record.flagKey,
        payload: rolloutEventPayload(record, { actor: input.actor, cause: input.cause ?? null, reason: input.reason ?? null, details: input.details ?? null }),
      });
    }
    return record;
  });
}

export interface FinishInput {
  rolloutId: string;
  seq: number;
  outcome: 'completed' | 'cancelled' | 'rolled_back' | 'failed';
  actor: string;
  reason?: string | null;
  /** Restore the starting rollout (compare-and-set against where the plan left the flag). */
  rollback: boolean;
  details?: Record<string, unknown>;
}

/**
 * Ends a rollout: completed, cancelled (optionally rolled back), rolled back by a gate, or failed.
 * A rollback is a compare-and-set like every step: when the flag's rollout is no longer where the
 * plan left it, it is not overwritten and the entry says so. Idempotent by (rollout, seq).
 */
export async function finishRolloutRecord(db: DatabasePool, input: FinishInput): Promise<RolloutRecord> {
  return inWriteTransaction(db, async (tx) => {
    const before = await lockedRollout(tx, input.rolloutId);
    if (await historyEntryAt(tx, input.rolloutId, input.seq)) return before;
    let rolledBack = false;
    let note: string | null = null;
    let flagVersion: number | null = null;
    if (input.rollback) {
      const flag = await getFlag(tx, before.flagKey);
      if (!flag || flag.state !== 'active') note = 'rollback skipped: the flag is archived';
      else if (!sameRollout(flag.rollout, before.expectedRollout)) {
        note = `rollback skipped: the flag's rollout is ${describeRollout(flag.rollout)}, changed outside the plan`;
      } else {
        const next = await patchFlagIn(tx, before.flagKey, { rollout: before.startRollout ?? null }, flag.version, {
          actor: actorNamed(input.actor),
          eventType: 'flag.rollout_progress',
        });
        rolledBack = true;
        flagVersion = next.version;
      }
    }
    const reason = [input.reason ?? null, note].filter(Boolean).join('; ') || null;
    const row = await tx.one(sql.type(rolloutRow)`
      UPDATE rollouts SET state = ${input.outcome}, rolled_back = ${rolledBack}, end_reason = ${reason},
        expected_rollout = ${rolledBack ? jsonbOrNull(before.startRollout) : jsonbOrNull(before.expectedRollout)},
        next_step_at = NULL, pause_cause = NULL, pause_reason = NULL, paused_by = NULL, paused_at = NULL,
        finished_at = now(), updated_at = now()
      WHERE id = ${input.rolloutId} RETURNING ${ROLLOUT_COLUMNS}`);
    const record = toRecord(row);
    await insertHistory(tx, {
      rolloutId: record.id,
      seq: input.seq,
      kind: input.outcome,
      actor: input.actor,
      stepIndex: record.currentStep,
      flagVersion,
      rollout: rolledBack ? before.startRollout : null,
      reason,
      details: { ...input.details, rolledBack },
    });
    await appendAudit(tx, {
      actor: actorNamed(input.actor),
      action: `rollout.${input.outcome}`,
      entityType: 'rollout',
      entityKey: record.flagKey,
      before: { rolloutId: record.id, state: before.state, currentStep: before.currentStep },
      after: { rolloutId: record.id, state: record.state, rolledBack, reason },
    });
    await appendEvent(tx, {
      type: `flag.rollout_${input.outcome}`,
      entityKey: record.flagKey,
      payload: rolloutEventPayload(record, { actor: input.actor, reason, rolledBack, details: input.details ?? null }),
    });
    return record;
  });
}

export interface AutoProgressSetting {
  enabled: boolean;
  reason: string | null;
  updatedBy: string;
  updatedAt: string;
}

const settingsRow = z.object({ auto_progress_enabled: z.boolean(), reason: z.string().nullable(), updated_by: z.string(), updated_at: z.number() });

async function readAutoProgress(db: DatabasePool | WriteTransaction): Promise<AutoProgressSetting> {
  const row = await db.maybeOne(sql.type(settingsRow)`SELECT auto_progress_enabled, reason, updated_by, updated_at FROM rollout_settings WHERE id`);
  if (!row) return { enabled: true, reason: null, updatedBy: 'system', updatedAt: new Date(0).toISOString() };
  return { enabled: row.auto_progress_enabled, reason: row.reason, updatedBy: row.updated_by, updatedAt: new Date(row.updated_at).toISOString() };
}

export async function getAutoProgress(db: DatabasePool): Promise<AutoProgressSetting> {
  return readAutoProgress(db);
}

/**
 * The circuit breaker of all automatic progression. Written under the write lock, so once this
 * commits with `enabled: false`, no step of any plan is applied until it is enabled again.
 */
export async function setAutoProgress(db: DatabasePool, enabled: boolean, options: { actor: string; reason?: string }): Promise<AutoProgressSetting> {
  return inWriteTransaction(db, async (tx) => {
    const before = await readAutoProgress(tx);
    await tx.query(sql.typeAlias('void')`
      INSERT INTO rollout_settings (id, auto_progress_enabled, reason, updated_at, updated_by)
      VALUES (true, ${enabled}, ${options.reason ?? null}, now(), ${options.actor})
      ON CONFLICT (id) DO UPDATE SET auto_progress_enabled = EXCLUDED.auto_progress_enabled, reason = EXCLUDED.reason,
        updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`);
    const after = await readAutoProgress(tx);
    if (before.enabled !== enabled) {
      await appendAudit(tx, {
        actor: actorNamed(options.actor),
        action: enabled ? 'rollout.auto_progress_enabled' : 'rollout.auto_progress_disabled',
        entityType: 'rollout',
        entityKey: '*',
        before: { autoProgressEnabled: before.enabled },
        after: { autoProgressEnabled: enabled, reason: options.reason ?? null },
      });
      await appendEvent(tx, {
        type: 'rollout.auto_progress_changed',
        entityKey: null,
        payload: { enabled, reason: options.reason ?? null, actor: options.actor },
      });
    }
    return after;
  });
}
