// Replays every recorded rollout history (test/fixtures/histories, recorded from real runs with
// FLAGS_RECORD_HISTORIES=1) against the workflow code as it is now. A change that would make a
// running rollout take a different path on replay (a non-deterministic change) fails here: put
// it behind `patched()` instead. No server is involved.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { replayHistories } from '../support/replay.ts';

const HISTORIES_DIR = new URL('../fixtures/histories/', import.meta.url).pathname;

describe('rollout workflow replay', () => {
  const files = readdirSync(HISTORIES_DIR).filter((name) => name.endsWith('.json')).sort();

  it('has recorded histories of every path: completion, pause/resume under both policies, cancel, rollback, gates, conflict, a killed worker, auto-progress, a killswitch, the minimum dwell after a stall, the snapshot publisher, the audit checkpoint, scheduled changes (applied, cancelled, failed on a conflict, rescheduled), retention with its clean-up (with and without analytics events)', () => {
    expect(files).toEqual([
      'audit-checkpoint.json',
      'auto-progress-held.json',
      'cancelled-after-one-step.json',
      'cancelled-with-rollback.json',
      'completed-three-steps.json',
      'conflict-paused-cancelled.json',
      'gate-paused-resumed.json',
      'gate-rolled-back.json',
      'killswitch-paused-resumed.json',
      'paused-resumed-apply-overdue.json',
      'paused-resumed-shift-schedule.json',
      // Retention with its clean-up step, with SDKs' exposure and tracking events removed (the step's input names their days).
      'retention-cleanup-analytics.json',
      // Retention with its clean-up step (patch "retention-cleanup"), before those events were removed.
      'retention-cleanup.json',
      'scheduled-change-applied.json',
      'scheduled-change-cancelled.json',
      'scheduled-change-conflict.json',
      'scheduled-change-rescheduled.json',
      'snapshot-publisher.json',
      'ui-signals-and-cancel.json',
      'worker-killed-mid-plan.json',
      // Recorded with the minimum dwell (patch "minimum-dwell"): the steps after a 20 s stall.
      'worker-lost-mid-step-then-stalled.json',
    ]);
  });

  it('replays every recorded history without a determinism error', async () => {
    const { failures, replayed } = await replayHistories(HISTORIES_DIR, files);
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
