import type { Client, ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { AUDIT_CHECKPOINT_SCHEDULE_ID, auditCheckpointWorkflow } from '../workflows/audit-checkpoint-workflow.ts';
import { ensureSchedule } from './ensure-schedule.ts';

/**
 * Creates the schedule that checkpoints the audit log every `intervalSeconds`, or brings an existing
 * one in line with this worker's settings: every worker calls it at start, and the last word wins.
 * A run that finds the head unchanged writes nothing; overlapping runs are skipped, and runs missed
 * while Temporal was away are caught up only for a minute (one checkpoint covers them all).
 */
export async function ensureAuditCheckpointSchedule(client: Client, options: { taskQueue: string; intervalSeconds: number; scheduleId?: string }): Promise<string> {
  const scheduleId = options.scheduleId ?? AUDIT_CHECKPOINT_SCHEDULE_ID;
  const spec = { intervals: [{ every: `${options.intervalSeconds}s` }] };
  const action: ScheduleOptionsStartWorkflowAction<typeof auditCheckpointWorkflow> = {
    type: 'startWorkflow',
    workflowType: auditCheckpointWorkflow,
    taskQueue: options.taskQueue,
    workflowId: scheduleId,
    workflowRunTimeout: '2 minutes',
    staticSummary: 'Checkpoint the audit log: verify it since the last checkpoint, sign its head, keep it outside the database',
  };
  const policies = { catchupWindow: '1 minute' };
  return ensureSchedule(client, { scheduleId, spec, action, policies });
}
