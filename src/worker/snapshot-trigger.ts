import type { Client } from '@temporalio/client';
import { affectsEvaluation } from '../data/flag-set-source.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import { SNAPSHOT_PUBLISHER_WORKFLOW_ID, snapshotChangedSignal, snapshotPublisherWorkflow } from '../workflows/snapshot-publisher-workflow.ts';

/** After a signal Temporal did not take, the next attempt waits this long, doubling up to the maximum. */
const RETRY_DELAY_MS = 500;
const MAX_RETRY_DELAY_MS = 5_000;

/**
 * Turns committed changes into signals to the snapshot publisher: a change that affects evaluation,
 * a token change (the publisher keeps the token list beside the snapshot), or a LISTEN reconnect
 * (after which changes may have been missed) does a signal-with-start, so the publisher exists
 * exactly when there is something to publish.
 *
 * The signal is only a wake-up (the publisher reads the committed state itself), so changes are
 * coalesced before they reach Temporal: the first change after a quiet spell is signalled at once,
 * and while changes keep coming at most one signal goes out per `minIntervalMs`, carrying all of
 * them. Each signal costs Temporal a history event and the worker a workflow task; at 50 writes per
 * second, one signal per write kept the processes busy (bench/rollout-drift.ts measures both). The
 * signal says when its changes were made, so the publisher's debounce counts from them and
 * coalescing does not delay publication. A signal Temporal does not take is tried again until it does.
 */
export function startSnapshotTrigger(options: {
  client: Client;
  taskQueue: string;
  changeFeed: ChangeFeed;
  log: Logger;
  minIntervalMs: number;
  callTimeoutMs: number;
}): { stop(): void } {
  let pending = false;
  /** When the changes not signalled yet were announced: the signal carries them to the publisher. */
  let firstChangeAt = 0;
  let lastChangeAt = 0;
  let inFlight = false;
  let stopped = false;
  let lastSentAt = Number.NEGATIVE_INFINITY;
  let retryDelayMs = RETRY_DELAY_MS;
  let timer: NodeJS.Timeout | undefined;

  const send = async (): Promise<void> => {
    const changes = { firstAt: firstChangeAt, lastAt: lastChangeAt };
    pending = false;
    inFlight = true;
    lastSentAt = Date.now();
    try {
      await options.client.withDeadline(Date.now() + options.callTimeoutMs, () =>
        options.client.workflow.signalWithStart(snapshotPublisherWorkflow, {
          workflowId: SNAPSHOT_PUBLISHER_WORKFLOW_ID,
          taskQueue: options.taskQueue,
          args: [{}],
          signal: snapshotChangedSignal,
          signalArgs: [changes],
          staticSummary: 'Publishes the signed snapshot of all active flags after each burst of changes',
        }),
      );
      retryDelayMs = RETRY_DELAY_MS;
    } catch (error) {
      options.log.warn({ err: error, retryInMs: retryDelayMs }, 'could not signal the snapshot publisher; trying again');
      firstChangeAt = pending ? Math.min(firstChangeAt, changes.firstAt) : changes.firstAt;
      lastChangeAt = pending ? lastChangeAt : changes.lastAt;
      pending = true;
      lastSentAt = Date.now() + retryDelayMs - options.minIntervalMs;
      retryDelayMs = Math.min(retryDelayMs * 2, MAX_RETRY_DELAY_MS);
    } finally {
      inFlight = false;
    }
    if (pending) schedule();
  };

  const schedule = (): void => {
    if (stopped || inFlight || timer) return;
    const wait = lastSentAt + options.minIntervalMs - Date.now();
    if (wait <= 0) {
      void send();
      return;
    }
    timer = setTimeout(() => {
      timer = undefined;
      if (pending && !stopped) void send();
    }, wait);
  };

  const changed = (): void => {
    const now = Date.now();
    if (!pending) firstChangeAt = now;
    lastChangeAt = now;
    pending = true;
    schedule();
  };

  const unsubscribe = options.changeFeed.subscribe((notice) => {
    if (notice === null || affectsEvaluation(notice.type) || notice.type.startsWith('token.')) changed();
  });
  // Whatever changed while no worker listened is published now.
  changed();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      unsubscribe();
    },
  };
}
