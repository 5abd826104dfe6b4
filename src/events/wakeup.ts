/**
 * A level-triggered wake-up shared by loops that read after a cursor: a loop notes `generation`
 * before it reads, and `wait` returns at once if a wake came in meanwhile, so a NOTIFY that lands
 * between "read found nothing" and "start waiting" is never slept through.
 */
export class Wakeup {
  #generation = 0;
  #waiters = new Set<() => void>();

  get generation(): number {
    return this.#generation;
  }

  wake(): void {
    this.#generation += 1;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const resolve of waiters) resolve();
  }

  /**
   * Wakes one waiting loop, not all: enough when one loop can find out whether there is work, and
   * it wakes the next itself if there was. Loops that are not waiting still see the new generation.
   */
  wakeOne(): void {
    this.#generation += 1;
    const [first] = this.#waiters;
    if (!first) return;
    this.#waiters.delete(first);
    first();
  }

  /** Resolves on the next wake after `seen`, or after `timeoutMs`, whichever comes first. */
  wait(seen: number, timeoutMs: number): Promise<void> {
    if (this.#generation !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }
}
