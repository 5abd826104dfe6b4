import { awaitsStart as changeAwaitsStart, reconcileChangeRequest, startAwaitingChangeRequest } from '../api/change-control.ts';
import type { TemporalDependencies } from '../api/dependencies.ts';
import { awaitsStart as rolloutAwaitsStart, reconcileRollout, sendControl, startAwaitingRollout } from '../api/rollout-control.ts';
import { temporalDeadline } from '../api/workflow-calls.ts';
import { changeRequestsAwaitingStart, listChangeRequests } from '../data/change-requests.ts';
import { isDatabaseUnavailable } from '../data/database-errors.ts';
import { rolloutsOwedKillswitchPause } from '../data/killswitches.ts';
import type { DatabasePool } from '../data/pool.ts';
import { getRollout, listRollouts, rolloutsAwaitingStart } from '../data/rollouts.ts';
import { AppError } from '../errors.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import { ACTIVE_ROLLOUT_STATES } from '../domain/rollout-state.ts';

/** Every this many passes, each active record's workflow is described (a terminated one is noticed). */
const PASSES_PER_SWEEP = 10;
/** How long a rollout whose workflow refused the killswitch's pause (its last step is done) is left alone. */
const REFUSED_PAUSE_RETRY_MS = 60_000;

export interface WorkflowReconcilerOptions {
  db: DatabasePool;
  log: Logger;
  temporal: TemporalDependencies;
  changeFeed: ChangeFeed;
  intervalMs: number;
}

/**
 * What happens later, after an API request has answered, happens here (and in Temporal), never on a
 * timer in an API process. Each worker runs a pass every `intervalMs`, and at once when a category
 * is engaged:
 * - starts the workflows of plans and change requests accepted while Temporal did not answer;
 * - pauses the running rollouts an engaged killswitch category owes a pause (cause `killswitch`);
 * - every tenth pass, describes the workflow of every active rollout and open change request, and
 *   records the end of one that was terminated or ended without recording it.
 * Every Temporal call answers within the configured bound; a pass stops at the first `unavailable`
 * and the next one tries again. Idempotent, so several workers may run it side by side.
 */
export function startWorkflowReconciler(options: WorkflowReconcilerOptions): { stop(): Promise<void> } {
  const { db, log } = options;
  const deps = { db, log, temporal: options.temporal };
  // The API's own start attempt has given up (or succeeded and recorded its run) by then.
  const startGraceMs = 2 * options.temporal.callTimeoutMs;
  const refusedPauses = new Map<string, number>();
  let passes = 0;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** What the passes are waiting for, if anything: said once at warn, not once per pass. */
  let waitingFor: 'Temporal' | 'PostgreSQL' | null = null;

  async function startAwaiting(): Promise<void> {
    for (const record of await rolloutsAwaitingStart(db, startGraceMs)) await startAwaitingRollout(deps, record, temporalDeadline(options.temporal));
    for (const record of await changeRequestsAwaitingStart(db, startGraceMs)) await startAwaitingChangeRequest(deps, record, temporalDeadline(options.temporal));
  }

  async function pauseForKillswitches(): Promise<void> {
    for (const owed of await rolloutsOwedKillswitchPause(db)) {
      const refusedAt = refusedPauses.get(owed.rolloutId);
      if (refusedAt !== undefined && Date.now() - refusedAt < REFUSED_PAUSE_RETRY_MS) continue;
      const record = await getRollout(db, owed.rolloutId);
      if (!record || rolloutAwaitsStart(record)) continue;
      try {
        await sendControl(deps, record, { action: 'pause', by: owed.engagedBy, reason: `killswitch "${owed.category}" engaged`, cause: 'killswitch' }, temporalDeadline(options.temporal));
        log.info({ rolloutId: record.id, flagKey: record.flagKey, category: owed.category }, 'paused a rollout of an engaged killswitch category');
      } catch (error) {
        if (!(error instanceof AppError) || error.code === 'unavailable') throw error;
        // Refused (every step is applied, it is being cancelled) or gone: nothing left to pause.
        refusedPauses.set(owed.rolloutId, Date.now());
        log.debug({ rolloutId: record.id, reason: error.message }, 'a rollout of an engaged killswitch category could not be paused');
      }
    }
  }

  async function sweep(): Promise<void> {
    for (const record of await listRollouts(db, ACTIVE_ROLLOUT_STATES, 1000)) await reconcileRollout(deps, record, temporalDeadline(options.temporal));
    const open = await listChangeRequests(db, { statuses: ['pending', 'approved'], limit: 1000 });
    for (const record of open.items) {
      if (!changeAwaitsStart(record)) await reconcileChangeRequest(deps, record, temporalDeadline(options.temporal));
    }
  }

  async function pass(): Promise<void> {
    passes += 1;
    try {
      await startAwaiting();
      await pauseForKillswitches();
      if (passes % PASSES_PER_SWEEP === 0) await sweep();
      if (waitingFor) log.info(`${waitingFor} answers again; reconciliation caught up`);
      waitingFor = null;
    } catch (error) {
      // The database first: a write past its deadline is also an `unavailable` AppError.
      const awaited = isDatabaseUnavailable(error) ? 'PostgreSQL' : error instanceof AppError && error.code === 'unavailable' ? 'Temporal' : null;
      if (awaited) {
        log[waitingFor === awaited ? 'debug' : 'warn']({ err: error }, `reconciliation waits for ${awaited}`);
        waitingFor = awaited;
      } else {
        log.warn({ err: error }, 'reconciliation pass failed; the next one tries again');
      }
    }
  }

  function run(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = pass().finally(() => {
      running = null;
      if (stopped) return;
      if (again) {
        again = false;
        run();
      } else {
        timer = setTimeout(run, options.intervalMs);
      }
    });
  }

  const unsubscribe = options.changeFeed.subscribe((notice) => {
    // An engaged category's rollouts are paused now, not at the next tick.
    if (notice === null || notice.type === 'killswitch.engaged') run();
  });
  run();

  return {
    async stop() {
      stopped = true;
      unsubscribe();
      clearTimeout(timer);
      await running;
    },
  };
}
