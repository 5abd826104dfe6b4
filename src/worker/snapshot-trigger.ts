import type { Client } from '@temporalio/client';
import { affectsEvaluation } from '../data/flag-set-source.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import { SNAPSHOT_PUBLISHER_WORKFLOW_ID, snapshotChangedSignal, snapshotPublisherWorkflow } from '../workflows/snapshot-publisher-workflow.ts';

/**
 * Turns committed changes into signals to the snapshot publisher: every change that affects
 * evaluation, every token change (the publisher keeps the token list beside the snapshot), and every
 * LISTEN reconnect (after which changes may have been missed) does a signal-with-start, so the
 * publisher exists exactly when there is something to publish. Signals in flight coalesce: a burst
 * of notices makes one call now and at most one more after it.
 */
export function startSnapshotTrigger(options: { client: Client; taskQueue: string; changeFeed: ChangeFeed; log: Logger }): { stop(): void } {
  let inFlight = false;
  let again = false;
  let stopped = false;
  const signal = async (): Promise<void> => {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      do {
        again = false;
        await options.client.workflow.signalWithStart(snapshotPublisherWorkflow, {
          workflowId: SNAPSHOT_PUBLISHER_WORKFLOW_ID,
          taskQueue: options.taskQueue,
          args: [{}],
          signal: snapshotChangedSignal,
          signalArgs: [],
          staticSummary: 'Publishes the signed snapshot of all active flags after each burst of changes',
        });
      } while (again && !stopped);
    } catch (error) {
      options.log.warn({ err: error }, 'could not signal the snapshot publisher; the next change will try again');
    } finally {
      inFlight = false;
    }
  };
  const unsubscribe = options.changeFeed.subscribe((notice) => {
    if (notice === null || affectsEvaluation(notice.type) || notice.type.startsWith('token.')) void signal();
  });
  // Whatever changed while no worker listened is published now.
  void signal();
  return {
    stop() {
      stopped = true;
      unsubscribe();
    },
  };
}
