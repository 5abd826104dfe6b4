// Purges flags archived longer than the retention period, in batches, each flag in a transaction of
// its own with its audit entry and event; then cleans up what finished long ago, compresses old
// audit entries, removes expired evaluation counts and SDKs' old exposure and tracking events. Started by a Temporal schedule (daily), so it
// is visible, pausable and triggerable in the Temporal UI; the API runs no timer for it.
// The function name and its commands are persisted in histories; change them only behind `patched()`.
import { patched, proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { createRetentionActivities } from '../activities/retention-activities.ts';
import type { RetentionResult, RetentionWorkflowInput } from './retention-definitions.ts';

const BATCH = 100;
const LISTED_KEYS = 1_000;
/** Runs started before the clean-up step existed replay without it. */
const CLEANUP_PATCH = 'retention-cleanup';

const { purgeArchivedFlags } = proxyActivities<ReturnType<typeof createRetentionActivities>>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

// A first clean-up of a large, old history takes a while; its heartbeats show it alive.
const { cleanUp } = proxyActivities<ReturnType<typeof createRetentionActivities>>({
  startToCloseTimeout: '50 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

export async function retentionWorkflow(input: RetentionWorkflowInput): Promise<RetentionResult> {
  const dryRun = input.dryRun === true;
  const result: RetentionResult = { cutoff: null, dryRun, purged: 0, keys: [] };
  for (;;) {
    const batch = await purgeArchivedFlags.executeWithOptions(
      { summary: `${dryRun ? 'List' : 'Purge'} flags archived more than ${input.archiveRetentionDays} days ago` },
      [{ archiveRetentionDays: input.archiveRetentionDays, limit: BATCH, dryRun }],
    );
    result.cutoff = batch.cutoff;
    result.purged += batch.keys.length;
    result.keys.push(...batch.keys.slice(0, LISTED_KEYS - result.keys.length));
    // A dry run lists one batch; a run stops when a batch was not full (or purged nothing: all held).
    if (dryRun || batch.candidates < BATCH || batch.keys.length === 0) break;
  }
  const purgedDetails = `${dryRun ? 'would purge' : 'purged'} ${result.purged} flag(s) archived before ${result.cutoff ?? '?'}${result.keys.length ? `: ${result.keys.slice(0, 20).join(', ')}` : ''}`;
  const { cleanupAfterDays, auditCompressAfterDays, evaluationCountsDays, analyticsEventsDays } = input;
  if (!dryRun && cleanupAfterDays !== undefined && auditCompressAfterDays !== undefined && evaluationCountsDays !== undefined && patched(CLEANUP_PATCH)) {
    setCurrentDetails(`${purgedDetails}; cleaning up`);
    result.cleanup = await cleanUp.executeWithOptions(
      // Runs without analytics events (recorded before they were removed) keep their summary and input as they were.
      { summary: `Remove what finished more than ${cleanupAfterDays} days ago, compress audit entries older than ${auditCompressAfterDays} days, drop evaluation counts older than ${evaluationCountsDays} days${analyticsEventsDays === undefined ? '' : `, and SDKs' exposure and tracking events older than ${analyticsEventsDays} days`}` },
      [{ cleanupAfterDays, auditCompressAfterDays, evaluationCountsDays, ...(analyticsEventsDays === undefined ? {} : { analyticsEventsDays }) }],
    );
    const { removed, compressedEntries, prunedEvaluationCounts, prunedAnalyticsEvents } = result.cleanup;
    setCurrentDetails(`${purgedDetails}; removed ${removed.rollouts} rollout plan(s), ${removed.changeRequests} change request(s), ${removed.scheduledChanges} scheduled change(s); compressed ${compressedEntries} audit entries; dropped ${prunedEvaluationCounts} evaluation count rows${prunedAnalyticsEvents === undefined ? '' : ` and ${prunedAnalyticsEvents} exposure and tracking events`}`);
    return result;
  }
  setCurrentDetails(purgedDetails);
  return result;
}
