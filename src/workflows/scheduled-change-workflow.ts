// One scheduled change to a flag, as a durable workflow (id `scheduled-change:<id>`): it waits until
// the change's time (an absolute time, re-read after every wake-up), then an activity applies it
// through the normal write path, or records why it could not. The database row decides: a cancel or
// a reschedule is committed there first and the workflow is only woken (the `reschedule` signal,
// Temporal cancellation), so a lost wake-up never applies a change at a time nobody wants.
// The function name and its commands are persisted in histories; change them only behind `patched()`.
import {
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createScheduledChangeActivities } from '../activities/scheduled-change-activities.ts';
import { FLAG_KEY_ATTRIBUTE } from './rollout-definitions.ts';
import { formatUtc } from '../domain/rollout-format.ts';
import {
  RESCHEDULE_SIGNAL_DESCRIPTION,
  rescheduleSignal,
  SCHEDULED_CHANGE_STATE_ATTRIBUTE,
  SCHEDULED_FOR_ATTRIBUTE,
  type ScheduledChangeOutcome,
  type ScheduledChangeWorkflowInput,
} from './scheduled-change-definitions.ts';

/** One short transaction, retried without limit: a database or worker outage only delays the change. */
const { fireScheduledChange, cancelScheduledChangeFromTemporal } = proxyActivities<ReturnType<typeof createScheduledChangeActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes: ['not_found', 'validation_error'] },
});

export async function scheduledChangeWorkflow(input: ScheduledChangeWorkflowInput): Promise<ScheduledChangeOutcome> {
  let runAt = input.runAt;
  setHandler(rescheduleSignal, (signal) => {
    if (typeof signal?.runAt === 'number' && Number.isFinite(signal.runAt)) runAt = signal.runAt;
  }, { description: RESCHEDULE_SIGNAL_DESCRIPTION });

  const publish = (state: string): void => {
    upsertSearchAttributes([
      { key: FLAG_KEY_ATTRIBUTE, value: input.flagKey },
      { key: SCHEDULED_CHANGE_STATE_ATTRIBUTE, value: state },
      { key: SCHEDULED_FOR_ATTRIBUTE, value: new Date(runAt) },
    ]);
  };

  publish('scheduled');
  try {
    for (;;) {
      while (Date.now() < runAt) {
        const waitingFor = runAt;
        setCurrentDetails(`**scheduled** for ${formatUtc(waitingFor)} · sets ${input.fields.join(', ')} on \`${input.flagKey}\` · by ${input.createdBy}`);
        await condition(() => runAt !== waitingFor, waitingFor - Date.now(), { summary: `Apply at ${formatUtc(waitingFor)}` });
        if (runAt !== waitingFor) publish('scheduled');
      }
      const outcome = await fireScheduledChange({ scheduledChangeId: input.scheduledChangeId });
      if (outcome.status === 'waiting') {
        // Moved later and the wake-up was lost: the stored time decides.
        runAt = outcome.runAt;
        publish('scheduled');
        continue;
      }
      publish(outcome.status);
      setCurrentDetails(outcome.status === 'applied'
        ? `**applied** · flag version ${outcome.flagVersion}${outcome.rebasedFrom ? ` (re-based from version ${outcome.rebasedFrom})` : ''}`
        : outcome.status === 'failed' ? `**failed** · ${outcome.failure.code}: ${outcome.failure.message}` : '**cancelled**');
      return outcome;
    }
  } catch (error) {
    // Temporal's cancellation: the API's cancel (already recorded), or the UI's Cancel (recorded now).
    if (!isCancellation(error)) throw error;
    await CancellationScope.nonCancellable(() => cancelScheduledChangeFromTemporal({ scheduledChangeId: input.scheduledChangeId }));
    publish('cancelled');
    setCurrentDetails('**cancelled**');
    throw error;
  }
}
