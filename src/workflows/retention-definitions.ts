// The retention workflow's contract: the schedule that starts it, its input and its result.

export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';

/** The schedule that runs the retention workflow (one per Temporal namespace, created by the worker). */
export const RETENTION_SCHEDULE_ID = 'flag-retention';

export interface RetentionWorkflowInput {
  /** Flags archived longer than this many days are purged (FLAGS_ARCHIVE_RETENTION_DAYS). */
  archiveRetentionDays: number;
  /**
   * Finished rollout plans, decided change requests and finished scheduled changes older than this
   * many days are removed (FLAGS_CLEANUP_AFTER_DAYS); their history stays in the audit log. Absent
   * (schedules registered before clean-up existed): no clean-up, no compression, no pruning.
   */
  cleanupAfterDays?: number;
  /** Audit entries older than this many days are stored compressed (FLAGS_AUDIT_COMPRESS_AFTER_DAYS). */
  auditCompressAfterDays?: number;
  /** Evaluation counts of hours older than this many days are removed (the longest insights or stale window, plus a margin). */
  evaluationCountsDays?: number;
  /**
   * SDKs' exposure and tracking batches older than this many days are removed from the outbox
   * (FLAGS_ANALYTICS_EVENTS_KEPT_DAYS). Absent (schedules registered before this existed): kept.
   */
  analyticsEventsDays?: number;
  /** List what would be purged, purge nothing (start the workflow by hand with this to check). */
  dryRun?: boolean;
}

/** What the clean-up step is given (src/data/cleanup.ts `CleanupSettings`). */
export interface CleanupStepInput {
  cleanupAfterDays: number;
  auditCompressAfterDays: number;
  evaluationCountsDays: number;
  /** Absent in the steps of runs started by a schedule registered before analytics events were removed. */
  analyticsEventsDays?: number;
}

/** What one run cleaned up (src/data/cleanup.ts `CleanupTotals`). */
export interface CleanupResult {
  removed: { rollouts: number; rolloutHistory: number; changeRequests: number; scheduledChanges: number };
  /** Audit entries whose content was moved into compressed blocks, and into how many blocks. */
  compressedEntries: number;
  compressedBlocks: number;
  prunedEvaluationCounts: number;
  /** Absent from the results of runs made before these records were cleaned up. */
  prunedSnapshotRecords?: number;
  /** SDKs' exposure and tracking batches removed from the outbox; absent when the step was not asked to. */
  prunedAnalyticsEvents?: number;
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
  /** What the clean-up step did; absent in a dry run, or when the run was not asked to clean up. */
  cleanup?: CleanupResult;
}
