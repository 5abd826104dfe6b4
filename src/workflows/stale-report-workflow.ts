// Announces stale flags once a week: one `flag.stale` event per owner listing that owner's stale
// flags, so a webhook can remind each team of its own. Started by a Temporal schedule.
import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { createStaleReportActivities } from '../activities/stale-report-activities.ts';
import type { StaleReportInput } from './stale-report-definitions.ts';

const { announceStaleFlags } = proxyActivities<ReturnType<typeof createStaleReportActivities>>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

export async function staleFlagReportWorkflow(input: StaleReportInput): Promise<{ owners: number; flags: number }> {
  const announced = await announceStaleFlags.executeWithOptions({ summary: 'One flag.stale event per owner of stale flags' }, [input]);
  setCurrentDetails(`${announced.flags} stale flag(s) announced to ${announced.owners} owner(s)`);
  return announced;
}
