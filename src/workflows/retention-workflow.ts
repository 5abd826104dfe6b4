// Purges flags archived longer than the retention period, in batches, each flag in a transaction of
// its own with its audit entry and event. Started by a Temporal schedule (daily), so it is visible,
// pausable and triggerable in the Temporal UI; the API runs no timer for it.
import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { createRetentionActivities } from '../activities/retention-activities.ts';
import type { RetentionResult, RetentionWorkflowInput } from './retention-definitions.ts';

const BATCH = 100;
const LISTED_KEYS = 1_000;

const { purgeArchivedFlags } = proxyActivities<ReturnType<typeof createRetentionActivities>>({
  startToCloseTimeout: '5 minutes',
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
  setCurrentDetails(`${dryRun ? 'would purge' : 'purged'} ${result.purged} flag(s) archived before ${result.cutoff ?? '?'}${result.keys.length ? `: ${result.keys.slice(0, 20).join(', ')}` : ''}`);
  return result;
}
