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
   * it wakes the next itself if there was. The woken loop takes the wake: the busy loops do not go
   * round again for it (with four loops, each notice cost up to four claim queries). Only when no
   * loop is waiting does the generation move, so that a busy loop does not sleep through it.
   */
  wakeOne(): void {
    const [first] = this.#waiters;
    if (!first) {
      this.#generation += 1;
      return;
    }
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
