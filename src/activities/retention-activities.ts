import { Context } from '@temporalio/activity';
import { actorNamed } from '../data/actor.ts';
import { cleanUp } from '../data/cleanup.ts';
import type { DatabasePool } from '../data/pool.ts';
import { listPurgeCandidates, purgeArchivedFlag, retentionCutoff } from '../data/retention.ts';
import type { Logger } from '../log.ts';
import { RETENTION_SCHEDULE_ID, type CleanupResult, type CleanupStepInput, type RetentionBatch, type RetentionBatchInput } from '../workflows/retention-definitions.ts';

export interface RetentionActivityDependencies {
  db: DatabasePool;
  log: Logger;
}

/** The actor of a purge: the schedule, as the Temporal UI names it. */
const RETENTION_ACTOR = actorNamed(`schedule:${RETENTION_SCHEDULE_ID}`);

/** The retention activities, closed over their dependencies; registered by `createActivities`. */
export function createRetentionActivities(deps: RetentionActivityDependencies) {
  return {
    /**
     * Purges up to `limit` flags archived longer than the retention period, each in a transaction of
     * its own (a flag restored meanwhile is kept); with `dryRun`, only lists them. Retrying it is safe:
     * a flag purged already is no longer a candidate.
     */
    async purgeArchivedFlags(input: RetentionBatchInput): Promise<RetentionBatch> {
      const cutoff = retentionCutoff(Date.now(), input.archiveRetentionDays);
      const candidates = await listPurgeCandidates(deps.db, { cutoff, limit: input.limit });
      if (input.dryRun) return { cutoff: new Date(cutoff).toISOString(), keys: candidates.map((candidate) => candidate.key), candidates: candidates.length };
      const keys: string[] = [];
      for (const candidate of candidates) {
        const result = await purgeArchivedFlag(deps.db, candidate.key, { cutoff, actor: RETENTION_ACTOR });
        if (!result.purged) continue;
        keys.push(candidate.key);
        deps.log.info({ flagKey: candidate.key, archivedAt: new Date(candidate.archivedAt).toISOString(), removed: result.removed }, 'archived flag purged');
      }
      return { cutoff: new Date(cutoff).toISOString(), keys, candidates: candidates.length };
    },

    /**
     * Removes finished rollout plans, decided change requests and finished scheduled changes past
     * their age, compresses old audit entries and removes expired evaluation counts, batch by batch,
     * each batch a transaction of its own, heartbeating its progress (a worker lost midway is
     * noticed within the heartbeat timeout). Retrying is safe: a retry finds only what is left.
     */
    async cleanUp(input: CleanupStepInput): Promise<CleanupResult> {
      const context = Context.current();
      const result = await cleanUp(deps.db, input, { now: Date.now(), actor: RETENTION_ACTOR, progress: (totals) => context.heartbeat(totals) });
      deps.log.info({ ...input, ...result }, 'retention clean-up done');
      return result;
    },
  };
}
