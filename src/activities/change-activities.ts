import { normalizePlan, planSchema } from '../domain/rollout-plan.ts';
import {
  applyChangeRequest as applyInDatabase,
  failChangeRequest as failInDatabase,
  recordChangeDecision as recordDecisionInDatabase,
  type ApplyChangeInput,
  type DecisionInput,
  type PlanRollout,
} from '../data/change-requests.ts';
import type { DatabasePool } from '../data/pool.ts';
import { abandonRollout } from '../data/rollouts.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RolloutWorkflowInput } from '../workflows/rollout-definitions.ts';
import { asActivityFailure } from './as-activity-failure.ts';
import type { ChangeFailure, ChangeRequestStatus } from '../domain/change-request.ts';

export interface ChangeActivityDependencies {
  db: DatabasePool;
  log: Logger;
}

export type { ApplyChangeInput, DecisionInput };

/** What the workflow learns from applying: the flag's new version, or the rollout to start as a child. */
export type AppliedChange =
  | { status: 'applied'; flagVersion: number | null; rollout: RolloutWorkflowInput | null }
  | { status: 'failed'; failure: ChangeFailure };

export interface FailChangeInput {
  requestId: string;
  failure: ChangeFailure;
  /** A rollout created for the request whose workflow could not start: it is marked failed too. */
  rolloutId?: string;
}

/**
 * A plan is normalised when it is applied, so `after` steps count from the approval. The same pure
 * function the API validates plans with when they are filed (it lives beside the API's schema).
 */
const planRollout: PlanRollout = (plan, flag, now) => {
  const parsed = planSchema.safeParse(plan);
  if (!parsed.success) throw new AppError('validation_error', `the stored rollout plan is not valid: ${parsed.error.message}`);
  return normalizePlan(parsed.data, flag, now);
};

/** The approval activities, closed over their dependencies; registered by `createActivities`. */
export function createChangeActivities(deps: ChangeActivityDependencies) {
  return {
    /** Records approved / rejected / cancelled / expired with its audit entry and event; idempotent. */
    async recordChangeDecision(input: DecisionInput): Promise<{ status: ChangeRequestStatus }> {
      const record = await asActivityFailure(() => recordDecisionInDatabase(deps.db, input));
      deps.log.info({ requestId: input.requestId, flagKey: record.flagKey, status: input.status, by: input.by }, `change request ${input.status}`);
      return { status: record.status };
    },

    /** Applies an approved change onto its base version through the write path; a refusal is recorded, not thrown. */
    async applyChangeRequest(input: ApplyChangeInput): Promise<AppliedChange> {
      const outcome = await asActivityFailure(() => applyInDatabase(deps.db, input, planRollout));
      if (outcome.status === 'failed') {
        deps.log.warn({ requestId: input.requestId, code: outcome.failure.code, reason: outcome.failure.message }, 'approved change could not be applied');
        return outcome;
      }
      const rollout = outcome.rollout;
      deps.log.info({ requestId: input.requestId, approvedBy: input.approvedBy, flagVersion: outcome.flag?.version, rolloutId: rollout?.id }, 'approved change applied');
      return {
        status: 'applied',
        flagVersion: outcome.flag?.version ?? null,
        rollout: rollout
          ? { rolloutId: rollout.id, flagKey: rollout.flagKey, plan: rollout.plan, startRollout: rollout.startRollout, startedBy: rollout.startedBy, ...(rollout.reason ? { reason: rollout.reason } : {}) }
          : null,
      };
    },

    /** Marks the request failed (and the rollout it created, if its workflow could not start). */
    async failChangeRequest(input: FailChangeInput): Promise<{ status: ChangeRequestStatus }> {
      if (input.rolloutId) {
        const rolloutId = input.rolloutId;
        await asActivityFailure(() => abandonRollout(deps.db, rolloutId, { state: 'failed', reason: input.failure.message, actor: 'system' }));
      }
      const record = await asActivityFailure(() => failInDatabase(deps.db, input.requestId, input.failure));
      deps.log.warn({ requestId: input.requestId, code: input.failure.code, reason: input.failure.message }, 'change request failed');
      return { status: record.status };
    },
  };
}
