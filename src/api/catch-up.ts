import { isDatabaseUnavailable } from '../data/database-errors.ts';
import type { DatabaseStatus } from '../data/database-status.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';

export interface CatchUpOptions {
  /** What is kept current, as log lines name it ("flag set", "token set"). */
  name: string;
  log: Logger;
  databaseStatus: DatabaseStatus;
  /** Wakes a catch-up on every committed change it cares about; without it only the periodic check runs. */
  changeFeed?: ChangeFeed | undefined;
  /** Whether a notice of this event type can change what is held (a null notice, a reconnect, always wakes). */
  wakesOn: (eventType: string) => boolean;
  /** How often the newest change in the database is compared with the held version. */
  checkIntervalMs: number;
  /** The newest version in the database. */
  newestVersion: () => Promise<number>;
  /** The version held. */
  heldVersion: () => number;
  /** Reads and applies everything after the held version. */
  apply: () => Promise<void>;
  /** Whether what is held is already known to be behind (loaded from a published copy, not the database). */
  startsStale: boolean;
}

/**
 * Keeps an in-memory copy of database state current without the reader ever waiting on the
 * database: a change notice (LISTEN/NOTIFY) wakes a catch-up that reads the outbox after the held
 * version, and a periodic check compares the newest version in the database with the held one, so a
 * lost notice costs only time. Concurrent wake-ups coalesce into one more run.
 *
 * It also knows how fresh the copy is: it is confirmed whenever a check or catch-up succeeds, and
 * stale from the first attempt that fails (the database down, say) until the next that succeeds.
 * Going stale and coming back are logged once each.
 */
export class CatchUp {
  readonly #options: CatchUpOptions;
  #running: Promise<void> | undefined;
  #again = false;
  #checking = false;
  #stale: boolean;
  #staleSince: number | null;
  #confirmedAt: number;
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(options: CatchUpOptions) {
    this.#options = options;
    this.#stale = options.startsStale;
    this.#staleSince = options.startsStale ? Date.now() : null;
    this.#confirmedAt = options.startsStale ? 0 : Date.now();
    this.#unsubscribe = options.changeFeed?.subscribe((notice) => {
      if (notice === null || options.wakesOn(notice.type)) void this.refresh();
    });
    this.#timer = setInterval(() => void this.check(), options.checkIntervalMs);
    this.#timer.unref();
  }

  /** Whether the copy may be behind the database: the last attempt to confirm it failed. */
  get stale(): boolean {
    return this.#stale;
  }

  /** When the copy was last confirmed current against the database (epoch ms; 0: never). */
  get confirmedAt(): number {
    return this.#confirmedAt;
  }

  /** Reads and applies every change after the held version; concurrent calls coalesce into one more run. */
  refresh(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#options.apply();
        } while (this.#again);
        this.#confirmed();
      } catch (error) {
        this.#failed(error, 'catch-up');
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  /** The periodic check: one indexed query, and a catch-up only when the database is ahead. */
  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      const newest = await this.#options.newestVersion();
      if (newest > this.#options.heldVersion() || this.#stale) {
        if (!this.#stale) this.#options.log.info({ version: this.#options.heldVersion(), newest }, `${this.#options.name} behind the database; catching up`);
        await this.refresh();
      } else {
        this.#confirmed();
      }
    } catch (error) {
      this.#failed(error, 'version check');
    } finally {
      this.#checking = false;
    }
  }

  #confirmed(): void {
    this.#confirmedAt = Date.now();
    this.#options.databaseStatus.answered();
    if (!this.#stale) return;
    this.#options.log.info({ version: this.#options.heldVersion(), staleSeconds: this.#staleSince === null ? 0 : (Date.now() - this.#staleSince) / 1000 }, `${this.#options.name} current again`);
    this.#stale = false;
    this.#staleSince = null;
  }

  #failed(error: unknown, what: string): void {
    if (isDatabaseUnavailable(error)) this.#options.databaseStatus.unreachable(error, `${this.#options.name} ${what}`);
    if (this.#stale) return;
    this.#stale = true;
    this.#staleSince = Date.now();
    this.#options.log.warn({ err: error, version: this.#options.heldVersion() }, `${this.#options.name} is stale: it cannot be compared with the database; answers come from the version held until it can`);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#unsubscribe?.();
  }
}
