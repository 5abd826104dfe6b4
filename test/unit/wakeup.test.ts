// The loops' wake-up: a wake reaches every waiting loop, wakeOne only the first, and neither is
// slept through by a loop that was busy when it came.
import { describe, expect, it } from '@jest/globals';
import { Wakeup } from '../../src/events/wakeup.ts';

/** Which of the waits have resolved once the pending callbacks have run. */
async function settled(waits: Promise<void>[]): Promise<boolean[]> {
  const done = waits.map(() => false);
  waits.forEach((wait, index) => void wait.then(() => (done[index] = true)));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('Wakeup', () => {
  it('wakes every waiting loop on wake, and one on wakeOne', async () => {
    const wakeup = new Wakeup();
    const waits = [0, 1, 2].map(() => wakeup.wait(wakeup.generation, 60_000));
    wakeup.wakeOne();
    expect(await settled(waits)).toEqual([true, false, false]);
    wakeup.wake();
    expect(await settled(waits)).toEqual([true, true, true]);
  });

  it('returns at once to a loop that noted the generation before a wakeOne it was not waiting for', async () => {
    const wakeup = new Wakeup();
    const seen = wakeup.generation;
    wakeup.wakeOne();
    expect(await settled([wakeup.wait(seen, 60_000), wakeup.wait(wakeup.generation, 60_000)])).toEqual([true, false]);
    wakeup.wake();
  });
});
