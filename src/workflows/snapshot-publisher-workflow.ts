import { condition, continueAsNew, defineSignal, proxyActivities, setHandler, sleep, workflowInfo, allHandlersFinished, setCurrentDetails } from '@temporalio/workflow';
import type { createSnapshotActivities } from '../activities/snapshot-activities.ts';

/** One publisher for the whole service: signal-with-start on this id from every change. */
export const SNAPSHOT_PUBLISHER_WORKFLOW_ID = 'snapshot-publisher';

/**
 * When the changes a signal stands for were made (epoch ms, the sender's clock). A worker coalesces
 * changes into one signal per interval, so the first of them may be that much older than the signal.
 */
export interface SnapshotChanges {
  firstAt: number;
  lastAt: number;
}

/** "The flag set changed": a wake-up only; the activity reads the committed state itself. */
export const snapshotChangedSignal = defineSignal<[SnapshotChanges?]>('changed');

export interface SnapshotPublisherInput {
  /** Publish once no change has arrived for this long… */
  debounceMs?: number;
  /** …but never later than this after the first change of a burst. */
  maxDelayMs?: number;
  /** Carried across continue-as-new: a change arrived that is not published yet. */
  pending?: boolean;
}

const { publishSnapshot } = proxyActivities<ReturnType<typeof createSnapshotActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  summary: 'build, sign and store the snapshot',
});

/** Keeps each run's history small; a long-lived publisher starts a fresh run well before the limits. */
const PUBLICATIONS_PER_RUN = 500;

/**
 * Debounces bursts of changes into one snapshot: a hundred changes within a second make one
 * publication, and any change is published within `maxDelayMs` plus the activity's time.
 */
export async function snapshotPublisherWorkflow(input: SnapshotPublisherInput = {}): Promise<void> {
  const debounceMs = input.debounceMs ?? 300;
  const maxDelayMs = input.maxDelayMs ?? 1_000;
  let pending = input.pending ?? true;
  let firstPendingAt = Date.now();
  let lastChangeAt = Date.now();

  setHandler(
    snapshotChangedSignal,
    (changes) => {
      // The debounce and the maximum delay count from when the changes were made, so that
      // coalescing them before Temporal does not delay their publication. Never from later than
      // now: the sender's clock is another machine's. (A signal without times means now.)
      const now = Date.now();
      if (!pending) firstPendingAt = Math.min(now, changes?.firstAt ?? now);
      pending = true;
      lastChangeAt = Math.max(lastChangeAt, Math.min(now, changes?.lastAt ?? now));
    },
    { description: 'The flag set changed: publish a new snapshot after the burst settles. Input: nothing, or {"firstAt", "lastAt"} (epoch ms) of the changes it stands for.' },
  );

  for (let publications = 0; ; ) {
    await condition(() => pending);
    for (;;) {
      const remaining = Math.min(debounceMs - (Date.now() - lastChangeAt), maxDelayMs - (Date.now() - firstPendingAt));
      if (remaining <= 0) break;
      await sleep(remaining);
    }
    pending = false;
    const published = await publishSnapshot();
    publications += 1;
    setCurrentDetails(`snapshot version ${published.version}, ${published.bytes} bytes, at ${published.location}`);
    if (publications >= PUBLICATIONS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof snapshotPublisherWorkflow>({ debounceMs, maxDelayMs, pending });
    }
  }
}
