// Replays every recorded approval workflow history (test/fixtures/change-histories, recorded from
// real runs of approvals.test.ts with FLAGS_RECORD_HISTORIES=1) against the workflow code as it is
// now. A change that would make a waiting change request take a different path on replay (a
// non-deterministic change) fails here: put it behind `patched()` instead. No server is involved.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { replayHistories } from '../support/replay.ts';
import { CHANGE_HISTORIES_DIR } from '../support/rollout-worker.ts';

describe('change request workflow replay', () => {
  const files = readdirSync(CHANGE_HISTORIES_DIR).filter((name) => name.endsWith('.json')).sort();

  it('has recorded histories of every path: applied, applied after a worker restart, rejected, expired, conflict, cancelled (API and Temporal), an approved rollout, approval by identity (the patched comparison), and an approved segment patch', () => {
    expect(files).toEqual([
      'approved-after-worker-restart.json',
      'approved-applied.json',
      'approved-by-another-person.json',
      'cancelled-through-temporal.json',
      'cancelled.json',
      'conflict-failed.json',
      'expired.json',
      'rejected.json',
      'rollout-approved.json',
      'segment-patch-applied.json',
    ]);
  });

  it('replays every recorded history without a determinism error', async () => {
    const { failures, replayed } = await replayHistories(CHANGE_HISTORIES_DIR, files);
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
