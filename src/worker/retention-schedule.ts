import type { Client, ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { INSIGHT_WINDOWS } from '../data/insights.ts';
import { RETENTION_SCHEDULE_ID } from '../workflows/retention-definitions.ts';
import type { retentionWorkflow } from '../workflows/retention-workflow.ts';
import { ensureSchedule } from './ensure-schedule.ts';

/** What the daily retention run is given (FLAGS_ARCHIVE_RETENTION_DAYS, FLAGS_CLEANUP_AFTER_DAYS, FLAGS_AUDIT_COMPRESS_AFTER_DAYS, FLAGS_ANALYTICS_EVENTS_KEPT_DAYS). */
export interface RetentionScheduleSettings {
  archiveRetentionDays: number;
  cleanupAfterDays: number;
  auditCompressAfterDays: number;
  evaluationCountsDays: number;
  analyticsEventsDays: number;
}

/** Days of evaluation counts kept beyond what anything reads, so a late flush or a clock step loses nothing. */
const EVALUATION_COUNTS_MARGIN_DAYS = 7;

/**
 * How long evaluation counts are kept: the longest window that reads them (the insights' month, or
 * the single-value stale window when it is longer), plus a margin.
 */
export function evaluationCountsRetentionDays(staleSingleValueDays: number): number {
  const longestInsightsDays = Math.max(...Object.values(INSIGHT_WINDOWS)) / 24;
  return Math.ceil(Math.max(longestInsightsDays, staleSingleValueDays)) + EVALUATION_COUNTS_MARGIN_DAYS;
}

/**
 * Creates the daily schedule that purges flags archived longer than `archiveRetentionDays` and
 * cleans up (docs/lifecycle.md#clean-up), or brings an existing one in line with this worker's
 * settings: every worker calls it at start, and the last word wins. A pause set in the Temporal UI
 * is kept. A run missed while Temporal was away is caught up within a day; overlapping runs are skipped.
 */
export async function ensureRetentionSchedule(client: Client, options: RetentionScheduleSettings & { taskQueue: string; scheduleId?: string }): Promise<string> {
  const scheduleId = options.scheduleId ?? RETENTION_SCHEDULE_ID;
  const spec = { intervals: [{ every: '1 day' }] };
  const { archiveRetentionDays, cleanupAfterDays, auditCompressAfterDays, evaluationCountsDays, analyticsEventsDays } = options;
  const action: ScheduleOptionsStartWorkflowAction<typeof retentionWorkflow> = {
    type: 'startWorkflow',
    workflowType: 'retentionWorkflow',
    args: [{ archiveRetentionDays, cleanupAfterDays, auditCompressAfterDays, evaluationCountsDays, analyticsEventsDays }],
    taskQueue: options.taskQueue,
    workflowId: scheduleId,
    workflowRunTimeout: '1 hour',
    staticSummary: `Purge flags archived more than ${archiveRetentionDays} days ago (their audit entries stay); remove rollout plans, change requests and scheduled changes finished more than ${cleanupAfterDays} days ago; compress audit entries older than ${auditCompressAfterDays} days; remove SDKs' exposure and tracking events older than ${analyticsEventsDays} days`,
  };
  const policies = { catchupWindow: '1 day' };
  return ensureSchedule(client, { scheduleId, spec, action, policies });
}
