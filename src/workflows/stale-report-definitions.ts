// The stale-flag report's contract: the schedule that starts it and its input, apart from the
// workflow so its activity and the worker's schedule name them without importing workflow code.

/** The schedule that runs the stale-flag report workflow (one per Temporal namespace, created by the worker). */
export const STALE_REPORT_SCHEDULE_ID = 'flag-stale-report';

export interface StaleReportInput {
  unevaluatedDays: number;
  singleValueDays: number;
}
