import { listStaleFlags, type StaleFlag } from '../data/insights.ts';
import type { DatabasePool } from '../data/pool.ts';
import { appendEvent, inWriteTransaction } from '../data/write-transaction.ts';
import type { Logger } from '../log.ts';
import type { StaleReportInput } from '../workflows/stale-report-definitions.ts';

export interface StaleReportActivityDependencies {
  db: DatabasePool;
  log: Logger;
}

/** Stale flags without an owner are announced under this name. */
const UNOWNED = 'unowned';

/** The weekly stale-flag report; registered by `createActivities`. */
export function createStaleReportActivities(deps: StaleReportActivityDependencies) {
  return {
    /**
     * Writes one `flag.stale` event per owner (entityKey: the owner) listing their stale flags with
     * the reason, all in one transaction: a retry after a failure writes them once.
     */
    async announceStaleFlags(input: StaleReportInput): Promise<{ owners: number; flags: number }> {
      const stale = await listStaleFlags(deps.db, { ...input, limit: 100_000 });
      const byOwner = new Map<string, StaleFlag[]>();
      for (const flag of stale) byOwner.set(flag.owner ?? UNOWNED, [...(byOwner.get(flag.owner ?? UNOWNED) ?? []), flag]);
      if (byOwner.size === 0) return { owners: 0, flags: 0 };
      await inWriteTransaction(deps.db, async (tx) => {
        for (const [owner, flags] of [...byOwner].sort(([a], [b]) => (a < b ? -1 : 1))) {
          await appendEvent(tx, {
            type: 'flag.stale',
            entityKey: owner,
            payload: {
              owner,
              count: flags.length,
              flags: flags.map((flag) => ({
                flagKey: flag.key,
                reason: flag.reason,
                since: new Date(flag.since).toISOString(),
                lastEvaluatedAt: flag.lastEvaluatedAt === null ? null : new Date(flag.lastEvaluatedAt).toISOString(),
              })),
            },
          });
        }
      });
      deps.log.info({ owners: byOwner.size, flags: stale.length }, 'stale flags announced');
      return { owners: byOwner.size, flags: stale.length };
    },
  };
}
