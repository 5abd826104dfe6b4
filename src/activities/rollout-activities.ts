import type { DatabasePool } from '../data/pool.ts';
import {
  applyRolloutStep as applyStepInDatabase,
  finishRolloutRecord,
  recordRolloutTransition as recordTransitionInDatabase,
  type ApplyStepInput,
  type FinishInput,
  type StepOutcome,
  type TransitionInput,
} from '../data/rollouts.ts';
import type { Logger } from '../log.ts';
import { describeRollout } from '../domain/rollout-format.ts';
import { asActivityFailure } from './as-activity-failure.ts';
import { checkGate, type GateProbe, type GateVerdict } from './rollout-gates.ts';
import { rolloutMetrics } from './rollout-metrics.ts';
import { withHeartbeat } from './with-heartbeat.ts';
import type { RolloutGate } from '../domain/rollout-plan.ts';
import type { RolloutState } from '../domain/rollout-state.ts';

export interface RolloutActivityDependencies {
  db: DatabasePool;
  log: Logger;
  /** What HTTP and Prometheus gates are probed with: the outbound client, under the operator's policy. */
  outbound: GateProbe;
}

export interface GateCheckInput {
  rolloutId: string;
  flagKey: string;
  stepIndex: number;
  gate: RolloutGate;
}

export type { ApplyStepInput, FinishInput, GateVerdict, StepOutcome, TransitionInput };

/** The rollout activities, closed over their dependencies; registered by `createActivities`. */
export function createRolloutActivities(deps: RolloutActivityDependencies) {
  const metrics = rolloutMetrics();

  return {
    /** Applies one step through the flag write path; idempotent and compare-and-set (see data/rollouts.ts). */
    async applyRolloutStep(input: ApplyStepInput): Promise<StepOutcome> {
      const outcome = await withHeartbeat(() => asActivityFailure(() => applyStepInDatabase(deps.db, input)));
      const flagKey = input.flagKey;
      const label = outcome.kind === 'held' ? `held_${outcome.cause}` : outcome.kind;
      metrics.steps.inc({ outcome: label });
      if (outcome.kind === 'applied') {
        const delayMs = outcome.appliedAt - input.targetAt;
        metrics.stepDelay.observe(Math.max(0, delayMs) / 1000);
        deps.log.info(
          { rolloutId: input.rolloutId, flagKey, step: input.stepIndex, rollout: describeRollout(input.rollout), flagVersion: outcome.flagVersion, delayMs },
          'rollout step applied',
        );
      } else if (outcome.kind === 'already_applied') {
        deps.log.info({ rolloutId: input.rolloutId, flagKey, step: input.stepIndex }, 'rollout step was already applied (retry)');
      } else {
        deps.log.warn({ rolloutId: input.rolloutId, flagKey, step: input.stepIndex, cause: outcome.cause, reason: outcome.reason }, 'rollout step held');
      }
      return outcome;
    },

    /** Probes the step's gate; a failing probe is a verdict, not an error. */
    async checkRolloutGate(input: GateCheckInput): Promise<GateVerdict> {
      const verdict = await withHeartbeat(() => checkGate(input.gate, deps.outbound));
      if (!verdict.ok) metrics.steps.inc({ outcome: 'gate_failed' });
      deps.log[verdict.ok ? 'info' : 'warn'](
        { rolloutId: input.rolloutId, flagKey: input.flagKey, step: input.stepIndex, gate: verdict.gate, value: verdict.value, ok: verdict.ok },
        `rollout gate ${verdict.ok ? 'passed' : 'failed'}: ${verdict.reason}`,
      );
      return verdict;
    },

    /** Records started / paused / resumed with its audit entry and event; idempotent by seq. */
    async recordRolloutTransition(input: TransitionInput): Promise<{ state: RolloutState }> {
      const record = await withHeartbeat(() => asActivityFailure(() => recordTransitionInDatabase(deps.db, input)));
      deps.log.info(
        { rolloutId: input.rolloutId, flagKey: record.flagKey, transition: input.kind, actor: input.actor, cause: input.cause, reason: input.reason },
        `rollout ${input.kind}`,
      );
      return { state: record.state };
    },

    /** Completes, cancels (optionally rolling back) or fails a rollout; idempotent by seq. */
    async finishRollout(input: FinishInput): Promise<{ state: RolloutState; rolledBack: boolean }> {
      const record = await withHeartbeat(() => asActivityFailure(() => finishRolloutRecord(deps.db, input)));
      deps.log.info(
        { rolloutId: input.rolloutId, flagKey: record.flagKey, outcome: record.state, rolledBack: record.rolledBack, actor: input.actor, reason: record.endReason },
        `rollout ${record.state}`,
      );
      return { state: record.state, rolledBack: record.rolledBack };
    },
  };
}
