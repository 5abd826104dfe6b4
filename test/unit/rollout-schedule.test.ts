import { describe, expect, it } from '@jest/globals';
import { DEFAULT_MAX_DWELL_MS, minimumDwellMs, stepDue } from '../../src/domain/rollout-schedule.ts';
import type { RolloutPlan } from '../../src/domain/rollout-plan.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 0, 1);

function plan(gapsMs: number[], options: Partial<Pick<RolloutPlan, 'catchUp' | 'minDwellMs'>> = {}): RolloutPlan {
  let at = T0;
  return {
    onResume: 'shift_schedule',
    steps: gapsMs.map((gap, index) => ({ rollout: { percentage: (index + 1) * 10 }, targetAt: (at += gap) })),
    ...options,
  };
}

describe('the minimum dwell between two steps', () => {
  it('is the planned gap before the step, at most 5 minutes, and nothing before the first step', () => {
    const twoSecondsThenADay = plan([2 * SECOND, 2 * SECOND, 24 * HOUR]);
    expect(minimumDwellMs(twoSecondsThenADay, 0)).toBe(0);
    expect(minimumDwellMs(twoSecondsThenADay, 1)).toBe(2 * SECOND);
    expect(minimumDwellMs(twoSecondsThenADay, 2)).toBe(DEFAULT_MAX_DWELL_MS);
    expect(DEFAULT_MAX_DWELL_MS).toBe(5 * MINUTE);
  });

  it('is the plan\'s minDwellMs when it sets one, and nothing when the plan catches up immediately', () => {
    expect(minimumDwellMs(plan([MINUTE, HOUR], { minDwellMs: 30 * SECOND }), 1)).toBe(30 * SECOND);
    expect(minimumDwellMs(plan([MINUTE, HOUR], { catchUp: 'immediate' }), 1)).toBe(0);
  });

  it('is nothing between two steps planned for the same time', () => {
    expect(minimumDwellMs(plan([MINUTE, 0]), 1)).toBe(0);
  });
});

describe('when a step is due', () => {
  const twoSecondGaps = plan(Array.from({ length: 8 }, () => 2 * SECOND));

  it('is its target (moved by the schedule offset) when the previous step was applied on time, or not by this run', () => {
    expect(stepDue(twoSecondGaps, 0, 0, null)).toEqual({ at: T0 + 2 * SECOND, scheduledAt: T0 + 2 * SECOND, dwell: null });
    expect(stepDue(twoSecondGaps, 3, 0, null).at).toBe(T0 + 8 * SECOND);
    expect(stepDue(twoSecondGaps, 3, 0, T0 + 6 * SECOND).at).toBe(T0 + 8 * SECOND);
    expect(stepDue(twoSecondGaps, 3, 90 * SECOND, T0 + 6 * SECOND).at).toBe(T0 + 98 * SECOND);
  });

  it('is one dwell after the previous step when that was applied late, and says so', () => {
    expect(stepDue(twoSecondGaps, 3, 0, T0 + 25 * SECOND)).toEqual({
      at: T0 + 27 * SECOND,
      scheduledAt: T0 + 8 * SECOND,
      dwell: { afterStep: 2, dwellMs: 2 * SECOND, until: T0 + 27 * SECOND },
    });
  });

  it('keeps the steps a 20 s outage made overdue a dwell apart, and never applies two closer', () => {
    // Steps 2 s apart from T0 + 2 s; nothing can be applied from T0 + 5 s to T0 + 25 s; each step lands 30 ms after it is due.
    const applied: number[] = [];
    let previous: number | null = null;
    for (let index = 0; index < twoSecondGaps.steps.length; index++) {
      const due: number = stepDue(twoSecondGaps, index, 0, previous).at;
      const at: number = (due > T0 + 5 * SECOND && due < T0 + 25 * SECOND ? T0 + 25 * SECOND : due) + 30;
      applied.push(at);
      previous = at;
    }
    const gaps = applied.slice(1).map((at, index) => at - (applied[index] as number));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2 * SECOND);
    expect(applied[2]).toBe(T0 + 25 * SECOND + 30);
    expect(applied[7]).toBe(T0 + 35 * SECOND + 6 * 30);
  });

  it('lets the lateness of a step carry over to the next only up to the dwell: a day-apart plan is back on its times', () => {
    const daily = plan([HOUR, 24 * HOUR, 24 * HOUR]);
    // The second step landed 3 hours late; the third is due at its own time.
    expect(stepDue(daily, 2, 0, T0 + 28 * HOUR).at).toBe(T0 + 49 * HOUR);
    // Landed 23 h 58 min late: the third waits 5 minutes after it, a few minutes past its time.
    expect(stepDue(daily, 2, 0, T0 + 48 * HOUR + 58 * MINUTE).at).toBe(T0 + 49 * HOUR + 3 * MINUTE);
  });

  it('is the target whatever the previous step did, when the plan catches up immediately', () => {
    const immediate = plan([2 * SECOND, 2 * SECOND], { catchUp: 'immediate' });
    expect(stepDue(immediate, 1, 0, T0 + 60 * SECOND)).toEqual({ at: T0 + 4 * SECOND, scheduledAt: T0 + 4 * SECOND, dwell: null });
  });
});
