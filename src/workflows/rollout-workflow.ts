// One rollout plan, as a durable workflow (id `rollout:<flagKey>`). Deterministic: time is the
// workflow's own clock (Date.now() is the activation time, the same on every replay), every side
// effect is an activity. The function name and the shape of its commands are persisted in
// histories; change them only behind `patched()`, and keep the replay test green
// (test/integration/rollout-replay.test.ts).
import {
  ActivityCancellationType,
  allHandlersFinished,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.ts';
import type { Rollout } from '@flagship/engine';
import {
  cancelOptionsSignal,
  controlUpdate,
  FLAG_KEY_ATTRIBUTE,
  pauseSignal,
  resumeSignal,
  ROLLOUT_PERCENT_ATTRIBUTE,
  ROLLOUT_STATE_ATTRIBUTE,
  SIGNAL_DESCRIPTIONS,
  statusQuery,
  type CancelOptions,
  type PauseInfo,
  type RolloutResult,
  type RolloutStatus,
  type RolloutWorkflowInput,
  type StepTimes,
} from './rollout-definitions.ts';
import { describeRollout, formatDuration, formatUtc, rolloutPercent } from '../domain/rollout-format.ts';
import { stepDue, type StepDue } from '../domain/rollout-schedule.ts';
import type { RolloutGate } from '../domain/rollout-plan.ts';
import type { PauseCause, RolloutState } from '../domain/rollout-state.ts';

type Activities = ReturnType<typeof createActivities>;

/**
 * Every activity heartbeats while it runs (activities/with-heartbeat.ts). A worker lost in the
 * middle of a step is therefore noticed at most this long after its last heartbeat, and the step
 * runs again on another worker after the first retry interval: a lost worker delays a step by 2.5 s
 * at most plus the step itself, where the start-to-close timeout alone made it 30 s. Short enough to
 * matter for steps seconds apart; long enough that a heartbeat (the SDK sends one at most every
 * 1.6 s) is not missed on a busy worker, and a missed one only costs a harmless retry.
 */
const HEARTBEAT_TIMEOUT = '2 seconds';

/**
 * Bookkeeping and steps: short database transactions. Retried without limit (a database or worker
 * outage only delays a rollout); the contract's error codes are non-retryable. The start-to-close
 * timeout bounds an attempt stuck on a live worker (a database that does not answer).
 */
const records = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes: ['not_found', 'validation_error'] },
});

/**
 * Gate probes: a few attempts for an activity that crashed (or whose worker was lost); a probe that
 * fails is a verdict, not an error. The probe's own timeout (5 s, at most 60 s) bounds it first.
 */
const probes = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '500 milliseconds', maximumAttempts: 3 },
  cancellationType: ActivityCancellationType.TRY_CANCEL,
});

interface Transition {
  seq: number;
  kind: 'paused' | 'resumed';
  by: string;
  cause?: PauseCause;
  reason: string | null;
  at: number;
  details?: Record<string, unknown>;
}

/** `pause`/`resume` take nothing, `{ reason?, by? }`, or a bare string (the reason); anything else is ignored. */
function readControlInput(input: unknown): { reason: string | null; by: string | null } {
  if (typeof input === 'string') return { reason: input.slice(0, 500) || null, by: null };
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const { reason, by } = input as { reason?: unknown; by?: unknown };
    return {
      reason: typeof reason === 'string' && reason !== '' ? reason.slice(0, 500) : null,
      by: typeof by === 'string' && by !== '' ? by.slice(0, 200) : null,
    };
  }
  return { reason: null, by: null };
}

/** Who a signal without `by` came from: the Temporal UI or CLI, which cannot name the person. */
const SIGNAL_ACTOR = 'temporal-ui';

/**
 * Runs recorded before the minimum dwell existed applied overdue steps at once; they replay that
 * way. A run reaching a step the dwell holds back, live, takes the new path from there on.
 */
const MINIMUM_DWELL_PATCH = 'minimum-dwell';

export async function rolloutWorkflow(input: RolloutWorkflowInput): Promise<RolloutResult> {
  const { rolloutId, flagKey, plan } = input;
  const steps = plan.steps;
  const stepActor = `rollout:${flagKey} (started by ${input.startedBy})`;

  let seq = 0;
  // The start is recorded first; its number is taken before any signal handler can take one.
  const startSeq = ++seq;
  let currentStep = -1;
  let currentRollout: Rollout | null = input.startRollout;
  /** Added to the target of every step not yet applied; grows on resume under shift_schedule. */
  let offsetMs = 0;
  let pause: PauseInfo | null = null;
  let finalState: RolloutState | null = null;
  let cancelling = false;
  let cancelOptions: CancelOptions = {};
  /** Control transitions not yet recorded in the database, in the order they happened. */
  const pending: Transition[] = [];
  const recorded = new Set<number>();
  /** When the last step this run applied was written: the minimum dwell counts from it. */
  let lastAppliedAt: number | null = null;
  const stepTimes: StepTimes[] = [];
  let dwellPatched = false;

  const allApplied = (): boolean => currentStep >= steps.length - 1;
  /**
   * When step `index` is due (see rollout-schedule.ts), with the previous step applied at
   * `appliedAt`. Only the main flow may `decide` to take the patched path (it records a marker);
   * queries and the UI's details follow the decision taken so far.
   */
  function dueOf(index: number, decide: boolean, appliedAt = lastAppliedAt): StepDue {
    const due = stepDue(plan, index, offsetMs, appliedAt);
    if (!due.dwell) return due;
    if (!dwellPatched && decide) dwellPatched = patched(MINIMUM_DWELL_PATCH);
    return dwellPatched ? due : { at: due.scheduledAt, scheduledAt: due.scheduledAt, dwell: null };
  }
  const nextDue = (): StepDue | null => (currentStep + 1 < steps.length ? dueOf(currentStep + 1, false) : null);
  const state = (): RolloutState => finalState ?? (pause ? 'paused' : 'running');

  const status = (): RolloutStatus => {
    const next = nextDue();
    const index = currentStep + 1;
    return {
      rolloutId,
      flagKey,
      state: state(),
      currentStep,
      percent: rolloutPercent(currentRollout),
      scheduleOffsetMs: offsetMs,
      nextStep: finalState || pause || next === null
        ? null
        : { index, at: next.at, plannedAt: steps[index]?.targetAt ?? next.scheduledAt, minimumDwell: next.dwell ? { afterStep: next.dwell.afterStep, dwellMs: next.dwell.dwellMs } : null },
      pause,
      cancelRequested: cancelling,
      steps: stepTimes,
    };
  };

  function requestPause(cause: PauseCause, by: string, reason: string | null, details?: Record<string, unknown>): Transition | null {
    if (finalState || cancelling || pause || allApplied()) return null;
    const at = Date.now();
    pause = { cause, by, reason, at, ...(details ? { details } : {}) };
    const transition: Transition = { seq: ++seq, kind: 'paused', by, cause, reason, at, ...(details ? { details } : {}) };
    pending.push(transition);
    publish();
    return transition;
  }

  function requestResume(by: string, reason: string | null): Transition | null {
    if (finalState || cancelling || !pause) return null;
    const at = Date.now();
    const pausedForMs = at - pause.at;
    // shift_schedule keeps the time that was left before the next step: every later target moves
    // by the time spent paused. apply_overdue keeps the original times (overdue steps go at once).
    if (plan.onResume === 'shift_schedule') offsetMs += pausedForMs;
    const transition: Transition = {
      seq: ++seq,
      kind: 'resumed',
      by,
      reason,
      at,
      details: { pausedForMs, onResume: plan.onResume, pauseCause: pause.cause },
    };
    pause = null;
    pending.push(transition);
    publish();
    return transition;
  }

  setHandler(pauseSignal, (signalInput) => {
    const { reason, by } = readControlInput(signalInput);
    requestPause('manual', by ?? SIGNAL_ACTOR, reason);
  }, { description: SIGNAL_DESCRIPTIONS.pause });

  setHandler(resumeSignal, (signalInput) => {
    const { reason, by } = readControlInput(signalInput);
    requestResume(by ?? SIGNAL_ACTOR, reason);
  }, { description: SIGNAL_DESCRIPTIONS.resume });

  setHandler(cancelOptionsSignal, (options) => {
    const { reason, by } = readControlInput(options);
    const rollback = typeof options === 'object' && options !== null && (options as { rollback?: unknown }).rollback === true;
    cancelOptions = { rollback, ...(reason ? { reason } : {}), ...(by ? { by } : {}) };
  }, { description: SIGNAL_DESCRIPTIONS.cancelOptions });

  setHandler(statusQuery, () => status(), { description: SIGNAL_DESCRIPTIONS.status });

  setHandler(
    controlUpdate,
    async (update) => {
      // Histories recorded before `cause` existed carry none: 'manual', as they were.
      const transition = update.action === 'pause' ? requestPause(update.cause ?? 'manual', update.by, update.reason ?? null) : requestResume(update.by, update.reason ?? null);
      // Answer once the change is in the database, so the caller's next read sees it.
      if (transition) await condition(() => recorded.has(transition.seq));
      return status();
    },
    {
      description: SIGNAL_DESCRIPTIONS.control,
      validator: (update) => {
        if (typeof update !== 'object' || update === null || (update.action !== 'pause' && update.action !== 'resume')) throw new Error('action must be "pause" or "resume"');
        if (typeof update.by !== 'string' || update.by === '') throw new Error('"by" must name who asks');
        if (update.cause !== undefined && update.cause !== 'manual' && update.cause !== 'killswitch') throw new Error('cause must be "manual" or "killswitch"');
        if (finalState || cancelling) throw new Error(`the rollout is ${cancelling ? 'being cancelled' : finalState}`);
        if (update.action === 'pause' && allApplied()) throw new Error('every step is applied; there is nothing to pause');
      },
    },
  );

  let published: { state: RolloutState; percent: number } | null = null;
  /** Keeps the search attributes and the UI's current details in step with the state. */
  function publish(): void {
    const current = { state: state(), percent: rolloutPercent(currentRollout) };
    if (!published || published.state !== current.state || published.percent !== current.percent) {
      upsertSearchAttributes([
        { key: FLAG_KEY_ATTRIBUTE, value: flagKey },
        { key: ROLLOUT_STATE_ATTRIBUTE, value: current.state },
        { key: ROLLOUT_PERCENT_ATTRIBUTE, value: current.percent },
      ]);
      published = current;
    }
    setCurrentDetails(details());
  }

  function details(): string {
    const at = describeRollout(currentRollout);
    const progress = `step ${currentStep + 1} of ${steps.length}`;
    if (finalState) return `**${finalState.replace('_', ' ')}** at ${at} (${progress})`;
    if (pause) {
      return [
        `**paused** at ${at} by ${pause.by}${pause.reason ? `: ${pause.reason}` : ''}`,
        `cause: ${pause.cause} · ${progress} · since ${formatUtc(pause.at)}`,
        'resume: signal `resume` (optionally `{"reason": "…"}`), or POST /v1/flags/' + flagKey + '/rollout/resume',
      ].join('\n\n');
    }
    const next = nextDue();
    const step = steps[currentStep + 1];
    return [
      `**running** at ${at} (${progress})`,
      step && next ? `next: ${describeRollout(step.rollout)} at ${formatUtc(next.at)}${next.dwell ? ` — ${whyHeld(next)}` : ''}` : 'next: —',
    ].join('\n\n');
  }

  /** Why a step waits past its scheduled time, for the UI's details and the timer's summary. */
  function whyHeld(due: StepDue): string {
    if (!due.dwell) return '';
    return `held by the minimum dwell: at least ${formatDuration(due.dwell.dwellMs)} after step ${due.dwell.afterStep + 1}, so that every step is seen before the next (it was due ${formatUtc(due.scheduledAt)})`;
  }

  /** Records the pending control transitions, oldest first. Not cancellable: a record is never half-done. */
  async function drain(): Promise<void> {
    while (pending.length > 0) {
      const transition = pending[0] as Transition;
      await CancellationScope.nonCancellable(() =>
        records.recordRolloutTransition.executeWithOptions({ summary: `Record ${transition.kind}${transition.reason ? `: ${transition.reason}` : ''}`.slice(0, 200) }, [{
          rolloutId,
          seq: transition.seq,
          kind: transition.kind,
          actor: transition.by,
          ...(transition.cause ? { cause: transition.cause } : {}),
          reason: transition.reason,
          ...(transition.details ? { details: transition.details } : {}),
          at: transition.at,
          nextStepAt: pause ? null : (nextDue()?.at ?? null),
          scheduleOffsetMs: offsetMs,
        }]),
      );
      pending.shift();
      recorded.add(transition.seq);
    }
  }

  async function finish(outcome: 'completed' | 'cancelled' | 'rolled_back' | 'failed', rollback: boolean, actor: string, reason: string | null, extra?: Record<string, unknown>): Promise<void> {
    await drain();
    const result = await CancellationScope.nonCancellable(() =>
      records.finishRollout.executeWithOptions({ summary: `Finish: ${outcome}${rollback ? ' with rollback' : ''}` }, [{
        rolloutId,
        seq: ++seq,
        outcome,
        actor,
        reason,
        rollback,
        ...(extra ? { details: extra } : {}),
      }]),
    );
    if (result.rolledBack) currentRollout = input.startRollout;
    pause = null;
    finalState = outcome;
    publish();
  }

  async function runGate(index: number, gate: RolloutGate): Promise<{ ok: boolean; reason: string; details: Record<string, unknown> }> {
    try {
      const verdict = await probes.checkRolloutGate.executeWithOptions(
        { summary: `Gate before step ${index + 1}: ${gate.type} ${gate.type === 'prometheus' ? gate.query : gate.url}`.slice(0, 200) },
        [{ rolloutId, flagKey, stepIndex: index, gate }],
      );
      return { ok: verdict.ok, reason: verdict.reason, details: { stepIndex: index, value: verdict.value, gate: verdict.gate } };
    } catch (error) {
      if (isCancellation(error)) throw error;
      return { ok: false, reason: `the gate check failed: ${error instanceof Error ? error.message : String(error)}`, details: { stepIndex: index } };
    }
  }

  /** Waits for step `index`'s time, checks its gate and applies it; 'rolled_back' when a gate rolled the plan back. */
  async function runStep(index: number): Promise<'applied' | 'rolled_back'> {
    const step = steps[index];
    if (!step) throw new Error(`no step ${index}`);
    for (;;) {
      await drain();
      if (pause) {
        publish();
        await condition(() => pause === null || pending.length > 0);
        continue;
      }
      // An absolute time, re-read after every wake-up: a late wake-up (a worker that was down)
      // makes the step due at once, but the minimum dwell keeps it a dwell after the previous one.
      const due = dueOf(index, true);
      const remaining = due.at - Date.now();
      if (remaining > 0) {
        publish();
        await condition(() => pause !== null || pending.length > 0, remaining, {
          summary: `Step ${index + 1}/${steps.length}: ${describeRollout(step.rollout)} at ${formatUtc(due.at)}${due.dwell ? ` (minimum dwell of ${formatDuration(due.dwell.dwellMs)} after step ${due.dwell.afterStep + 1})` : ''}`,
        });
        continue;
      }
      if (step.gate) {
        const verdict = await runGate(index, step.gate);
        // A pause or resume that arrived during the probe is honoured first; the gate is checked again after.
        if (pause || pending.length > 0) continue;
        if (!verdict.ok) {
          const reason = `gate before step ${index + 1} failed: ${verdict.reason}`;
          if (step.gate.onFailure === 'rollback') {
            await finish('rolled_back', true, 'gate', reason, verdict.details);
            return 'rolled_back';
          }
          requestPause('gate', 'gate', reason, verdict.details);
          continue;
        }
      }
      // A cancellation that arrived while the gate was probed wins over the step.
      if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('cancelled before the step was applied');
      const stepSeq = ++seq;
      const requestedAt = Date.now();
      // When the next step will be due if this one is applied now; the record shows it.
      const following = index + 1 < steps.length ? dueOf(index + 1, true, requestedAt) : null;
      const outcome = await CancellationScope.nonCancellable(() =>
        records.applyRolloutStep.executeWithOptions({ summary: `Apply step ${index + 1}/${steps.length}: ${describeRollout(step.rollout)}` }, [{
          rolloutId,
          flagKey,
          seq: stepSeq,
          stepIndex: index,
          rollout: step.rollout,
          targetAt: due.at,
          plannedAt: step.targetAt,
          ...(due.dwell ? { minimumDwell: { afterStep: due.dwell.afterStep, dwellMs: due.dwell.dwellMs } } : {}),
          nextStepAt: following?.at ?? null,
          actor: stepActor,
        }]),
      );
      if (outcome.kind === 'applied' || outcome.kind === 'already_applied') {
        currentStep = index;
        currentRollout = outcome.rollout ?? step.rollout;
        // When its transaction wrote it (the database's clock), but never earlier than the workflow
        // asked for it: a workflow task delayed by a lost worker adds no dwell after the delay, and
        // a database clock behind the workflow's shortens the dwell by no more than the step took.
        lastAppliedAt = Math.max(requestedAt, outcome.appliedAt);
        stepTimes.push({ index, plannedAt: step.targetAt, dueAt: due.at, appliedAt: outcome.appliedAt });
        publish();
        return 'applied';
      }
      // Held: nothing was written (auto-progress off, a conflicting change, the flag archived…).
      requestPause(outcome.cause, 'system', outcome.reason, outcome.details);
    }
  }

  publish();
  try {
    await CancellationScope.nonCancellable(() =>
      records.recordRolloutTransition.executeWithOptions({ summary: 'Record start' }, [{
        rolloutId,
        seq: startSeq,
        kind: 'started',
        actor: `rollout:${flagKey}`,
        runId: workflowInfo().runId,
        nextStepAt: nextDue()?.at ?? null,
        scheduleOffsetMs: offsetMs,
      }]),
    );
    for (let index = 0; index < steps.length; index++) {
      if ((await runStep(index)) === 'rolled_back') {
        await condition(allHandlersFinished);
        return { state: 'rolled_back', currentStep };
      }
    }
    await finish('completed', false, `rollout:${flagKey}`, null);
    await condition(allHandlersFinished);
    return { state: 'completed', currentStep };
  } catch (error) {
    if (isCancellation(error)) {
      // Temporal's cancellation (the API's cancel, the UI's Cancel button, `temporal workflow cancel`):
      // record it, optionally roll back, and end as Cancelled.
      cancelling = true;
      await CancellationScope.nonCancellable(() =>
        finish('cancelled', cancelOptions.rollback === true, cancelOptions.by ?? SIGNAL_ACTOR, cancelOptions.reason ?? 'cancelled through Temporal', { rollbackRequested: cancelOptions.rollback === true }),
      );
      throw error;
    }
    // A failure that ends the workflow (an activity failed for good): release the flag, then fail.
    await CancellationScope.nonCancellable(() =>
      finish('failed', false, `rollout:${flagKey}`, error instanceof Error ? error.message : String(error)).catch(() => undefined),
    );
    throw error;
  }
}
