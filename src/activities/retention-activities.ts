import { actorNamed } from '../data/actor.ts';
import type { DatabasePool } from '../data/pool.ts';
import { listPurgeCandidates, purgeArchivedFlag, retentionCutoff } from '../data/retention.ts';
import type { Logger } from '../log.ts';
import { RETENTION_SCHEDULE_ID, type RetentionBatch, type RetentionBatchInput } from '../workflows/retention-definitions.ts';

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
  };
}
