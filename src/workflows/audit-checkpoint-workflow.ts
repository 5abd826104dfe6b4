import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { AuditCheckpointResult, createAuditActivities } from '../activities/audit-activities.ts';

/** The schedule that runs the workflow below (one per Temporal namespace, created by the worker). */
export const AUDIT_CHECKPOINT_SCHEDULE_ID = 'audit-checkpoint';

const { writeAuditCheckpoint } = proxyActivities<ReturnType<typeof createAuditActivities>>({
  startToCloseTimeout: '1 minute',
  // A tampered log is not retried: the run fails, visibly, until a person looks.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 5, nonRetryableErrorTypes: ['audit_tampered'] },
  summary: 'verify the audit log since the last checkpoint, sign and store its head',
});

/**
 * One checkpoint of the audit log's head, signed with the audit key and kept outside the database;
 * started by a Temporal schedule every FLAGS_AUDIT_CHECKPOINT_SECONDS, so the service never runs a
 * timer of its own. Nothing is written when the head has not moved.
 */
export async function auditCheckpointWorkflow(): Promise<AuditCheckpointResult> {
  const result = await writeAuditCheckpoint();
  setCurrentDetails(result.written ? `checkpoint of entry ${result.id}` : result.id === null ? 'the audit log is empty' : `unchanged since entry ${result.id}`);
  return result;
}
