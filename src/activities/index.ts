import type { DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';
import { createAuditActivities, type AuditActivityDependencies } from './audit-activities.ts';
import { createChangeActivities } from './change-activities.ts';
import { createRetentionActivities } from './retention-activities.ts';
import { createRolloutActivities } from './rollout-activities.ts';
import { createScheduledChangeActivities } from './scheduled-change-activities.ts';
import { createStaleReportActivities } from './stale-report-activities.ts';
import type { OutboundClient } from '../outbound/outbound-client.ts';
import { createSnapshotActivities, type SnapshotActivityDependencies } from './snapshot-activities.ts';

export interface ActivityDependencies {
  db: DatabasePool;
  log: Logger;
  /** What rollout gates probe with (HTTP, Prometheus), under the operator's outbound policy. */
  outbound: OutboundClient;
  /** Signing key and store of the snapshot publisher; its activity is registered only with them. */
  snapshots?: Pick<SnapshotActivityDependencies, 'signer' | 'store'>;
  /** Audit key and checkpoint store; the checkpoint activity is registered only with them. */
  auditCheckpoints?: Pick<AuditActivityDependencies, 'signer' | 'checkpoints'>;
}

/**
 * Every activity the worker registers, closed over its dependencies (the Temporal
 * dependency-injection pattern); workflows proxy `ReturnType<typeof createActivities>`.
 */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createRolloutActivities(deps),
    ...createChangeActivities(deps),
    ...createScheduledChangeActivities(deps),
    ...createRetentionActivities(deps),
    ...createStaleReportActivities(deps),
    ...(deps.snapshots ? createSnapshotActivities({ db: deps.db, log: deps.log, ...deps.snapshots }) : {}),
    ...(deps.auditCheckpoints ? createAuditActivities({ db: deps.db, log: deps.log, ...deps.auditCheckpoints }) : {}),
  };
}
