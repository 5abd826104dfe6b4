// The retention workflow's contract: the schedule that starts it, its input and its result.

export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';

/** The schedule that runs the retention workflow (one per Temporal namespace, created by the worker). */
export const RETENTION_SCHEDULE_ID = 'flag-retention';

export interface RetentionWorkflowInput {
  /** Flags archived longer than this many days are purged (FLAGS_ARCHIVE_RETENTION_DAYS). */
  archiveRetentionDays: number;
  /** List what would be purged, purge nothing (start the workflow by hand with this to check). */
  dryRun?: boolean;
}

export interface RetentionBatchInput {
  archiveRetentionDays: number;
  limit: number;
  dryRun: boolean;
}

export interface RetentionBatch {
  /** ISO time: flags archived before it were candidates. */
  cutoff: string;
  /** Purged (or, in a dry run, would be). */
  keys: string[];
  candidates: number;
}

export interface RetentionResult {
  cutoff: string | null;
  dryRun: boolean;
  /** How many flags were purged (or would be). */
  purged: number;
  /** Their keys, the first 1,000. */
  keys: string[];
}
