import type { Client, ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { staleFlagReportWorkflow } from '../workflows/stale-report-workflow.ts';
import { ensureSchedule } from './ensure-schedule.ts';
import { STALE_REPORT_SCHEDULE_ID, type StaleReportInput } from '../workflows/stale-report-definitions.ts';

/**
 * Creates the weekly schedule that announces stale flags per owner, or brings an existing one in
 * line with this worker's settings (the pattern of the audit checkpoint schedule: every worker calls
 * it at start, the last word wins, a pause set in the UI is kept).
 */
export async function ensureStaleReportSchedule(client: Client, options: { taskQueue: string; stale: StaleReportInput; scheduleId?: string }): Promise<string> {
  const scheduleId = options.scheduleId ?? STALE_REPORT_SCHEDULE_ID;
  const spec = { intervals: [{ every: '7 days' }] };
  const action: ScheduleOptionsStartWorkflowAction<typeof staleFlagReportWorkflow> = {
    type: 'startWorkflow',
    workflowType: 'staleFlagReportWorkflow',
    args: [options.stale],
    taskQueue: options.taskQueue,
    workflowId: scheduleId,
    workflowRunTimeout: '10 minutes',
    staticSummary: 'Announce stale flags: one flag.stale event per owner (docs/lifecycle.md)',
  };
  const policies = { catchupWindow: '1 day' };
  return ensureSchedule(client, { scheduleId, spec, action, policies });
}
