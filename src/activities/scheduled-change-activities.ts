import { actorNamed } from '../data/actor.ts';
import type { DatabasePool } from '../data/pool.ts';
import { cancelScheduledChange, fireScheduledChange, getScheduledChange, isOpen, type FireOutcome } from '../data/scheduled-changes.ts';
import { isAppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { asActivityFailure } from './as-activity-failure.ts';

export interface ScheduledChangeActivityDependencies {
  db: DatabasePool;
  log: Logger;
}

/** Who a Temporal cancellation came from: the UI or CLI, which cannot name the person. */
const TEMPORAL_ACTOR = actorNamed('temporal-ui');

/** The scheduled-change activities, closed over their dependencies; registered by `createActivities`. */
export function createScheduledChangeActivities(deps: ScheduledChangeActivityDependencies) {
  return {
    /** Applies the change if its stored time has come (or says when it now is); the outcome is recorded with it. */
    async fireScheduledChange(input: { scheduledChangeId: string }): Promise<FireOutcome> {
      const outcome = await asActivityFailure(() => fireScheduledChange(deps.db, input.scheduledChangeId, Date.now()));
      if (outcome.status === 'failed') deps.log.warn({ scheduledChangeId: input.scheduledChangeId, code: outcome.failure.code, reason: outcome.failure.message }, 'scheduled change not applied');
      else if (outcome.status === 'applied') deps.log.info({ scheduledChangeId: input.scheduledChangeId, flagVersion: outcome.flagVersion }, 'scheduled change applied');
      return outcome;
    },

    /** Records a cancellation from the Temporal UI or CLI; one the API already recorded, or a change already ended, is left as it is. */
    async cancelScheduledChangeFromTemporal(input: { scheduledChangeId: string }): Promise<{ status: string }> {
      const change = await getScheduledChange(deps.db, input.scheduledChangeId);
      if (!change || !isOpen(change)) return { status: change?.status ?? 'gone' };
      try {
        return { status: (await cancelScheduledChange(deps.db, input.scheduledChangeId, TEMPORAL_ACTOR, 'cancelled through Temporal')).status };
      } catch (error) {
        // It ended between the read and the write (applied a moment ago): that outcome stands.
        if (isAppError(error) && error.code === 'validation_error') return { status: (await getScheduledChange(deps.db, input.scheduledChangeId))?.status ?? 'gone' };
        throw error;
      }
    },
  };
}
