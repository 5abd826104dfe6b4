import type { Client, ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { RETENTION_SCHEDULE_ID } from '../workflows/retention-definitions.ts';
import type { retentionWorkflow } from '../workflows/retention-workflow.ts';
import { ensureSchedule } from './ensure-schedule.ts';

/**
 * Creates the daily schedule that purges flags archived longer than `archiveRetentionDays`, or
 * brings an existing one in line with this worker's settings: every worker calls it at start, and
 * the last word wins. A pause set in the Temporal UI is kept. A run missed while Temporal was away
 * is caught up within a day; overlapping runs are skipped.
 */
export async function ensureRetentionSchedule(client: Client, options: { taskQueue: string; archiveRetentionDays: number; scheduleId?: string }): Promise<string> {
  const scheduleId = options.scheduleId ?? RETENTION_SCHEDULE_ID;
  const spec = { intervals: [{ every: '1 day' }] };
  const action: ScheduleOptionsStartWorkflowAction<typeof retentionWorkflow> = {
    type: 'startWorkflow',
    workflowType: 'retentionWorkflow',
    args: [{ archiveRetentionDays: options.archiveRetentionDays }],
    taskQueue: options.taskQueue,
    workflowId: scheduleId,
    workflowRunTimeout: '1 hour',
    staticSummary: `Purge flags archived more than ${options.archiveRetentionDays} days ago (FLAGS_ARCHIVE_RETENTION_DAYS); their audit entries stay`,
  };
  const policies = { catchupWindow: '1 day' };
  return ensureSchedule(client, { scheduleId, spec, action, policies });
}
