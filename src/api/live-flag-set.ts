import { compileFlagSet, type CompiledFlagSet, type Flag, type Segment } from '../engine/index.ts';
import { affectsEvaluation, currentFlagSetVersion, flagSetChangesSince, loadFlagSetState } from '../data/flag-set-source.ts';
import type { DatabasePool } from '../data/pool.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';

export interface LiveFlagSetOptions {
  db: DatabasePool;
  log: Logger;
  /** Wakes a catch-up on every committed change; without it only the periodic check runs. */
  changeFeed?: ChangeFeed;
  /** How often the newest change in the database is compared with the set's version. */
  checkIntervalMs?: number;
  /** Called after every change of the set (metrics, snapshot invalidation). */
  onChange?: (set: LiveFlagSet) => void;
  /** Told of every compilation: all flags (`full`) or one change, its duration and how many flags it compiled. */
  onCompile?: (kind: 'full' | 'change', seconds: number, flagsCompiled: number) => void;
}

/**
 * The compiled flag set an API process evaluates against, kept current without a database round
 * trip on the evaluation path:
 * - loaded whole at start-up;
 * - the process that made a write applies it before answering (read-your-write);
 * - every other change arrives through LISTEN/NOTIFY and is read from the outbox after the set's
 *   version, so a notice is only a wake-up and a lost one costs nothing but time;
 * - a periodic check compares the newest change in the database with the set's version and
 *   catches up when a notification was missed (or the database was away).
 * Per flag, a version never goes backwards, so a late notice cannot undo a newer local write.
 */
export class LiveFlagSet {
  #set: CompiledFlagSet;
  #version: number;
  readonly #flags = new Map<string, Flag>();
  readonly #segments = new Map<string, Segment>();
  /** The newest version of each flag applied, archived ones included, so an old state never returns. */
  readonly #flagVersions = new Map<string, number>();
  readonly #options: LiveFlagSetOptions;
  #catchUp: Promise<void> | undefined;
  #catchUpAgain = false;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #updatedAt = Date.now();
  #catchUps = 0;
  #changeCount = 0;

  private constructor(options: LiveFlagSetOptions, state: Awaited<ReturnType<typeof loadFlagSetState>>) {
    this.#options = options;
    this.#version = state.version;
    for (const flag of state.flags) {
      this.#flags.set(flag.key, flag);
      this.#flagVersions.set(flag.key, flag.version);
    }
    for (const segment of state.segments) this.#segments.set(segment.key, segment);
    const started = performance.now();
    this.#set = compileFlagSet({ flags: state.flags, segments: state.segments, killswitches: state.killswitches });
    this.#compiled('full', started, this.#set.size);
  }

  /** Reports a compilation's duration and size: a burst of large ones is a mass invalidation. */
  #compiled(kind: 'full' | 'change', started: number, flagsCompiled: number): void {
    this.#options.onCompile?.(kind, (performance.now() - started) / 1000, flagsCompiled);
  }

  /** How many compiled flags a change of this segment recompiles. */
  #usersOf(segmentKey: string): number {
    let users = 0;
    for (const compiled of this.#set.flags.values()) if (compiled.segmentKeys.has(segmentKey)) users += 1;
    return users;
  }

  static async load(options: LiveFlagSetOptions): Promise<LiveFlagSet> {
    const started = performance.now();
    const live = new LiveFlagSet(options, await loadFlagSetState(options.db));
    options.log.info({ flags: live.#set.size, version: live.#version, ms: Math.round(performance.now() - started) }, 'flag set loaded');
    // Token, webhook and exposure events cannot change an answer; a null notice (a reconnect) may hide any change.
    live.#unsubscribe = options.changeFeed?.subscribe((notice) => {
      if (notice === null || affectsEvaluation(notice.type)) void live.refresh();
    });
    live.#timer = setInterval(() => void live.check(), options.checkIntervalMs ?? 1_000);
    live.#timer.unref();
    return live;
  }

  /** The compiled set to evaluate against; replaced, never mutated, on every change. */
  get current(): CompiledFlagSet {
    return this.#set;
  }

  /** The outbox id of the newest change applied. */
  get version(): number {
    return this.#version;
  }

  get updatedAt(): number {
    return this.#updatedAt;
  }

  /** Active flags and all segments as stored: what a snapshot carries. */
  get flags(): ReadonlyMap<string, Flag> {
    return this.#flags;
  }

  get segments(): ReadonlyMap<string, Segment> {
    return this.#segments;
  }

  /** Read-your-write: applies a flag this process has just committed, before it answers. */
  applyFlag(flag: Flag): void {
    const started = performance.now();
    if (!this.#applyFlag(flag)) return;
    this.#compiled('change', started, 1);
    this.#changed();
  }

  applySegment(key: string, segment: Segment | null): void {
    const users = this.#usersOf(key);
    const started = performance.now();
    this.#applySegment(key, segment);
    this.#compiled('change', started, users);
    this.#changed();
  }

  applyKillswitches(engaged: ReadonlySet<string>): void {
    const started = performance.now();
    this.#set = this.#set.withKillswitches(engaged);
    this.#compiled('change', started, 0);
    this.#changed();
  }

  #applyFlag(flag: Flag): boolean {
    if ((this.#flagVersions.get(flag.key) ?? 0) >= flag.version) return false;
    this.#flagVersions.set(flag.key, flag.version);
    if (flag.state === 'archived') {
      this.#flags.delete(flag.key);
      this.#set = this.#set.withoutFlag(flag.key);
    } else {
      this.#flags.set(flag.key, flag);
      this.#set = this.#set.withFlag(flag);
    }
    return true;
  }

  #applySegment(key: string, segment: Segment | null): void {
    if (segment) {
      this.#segments.set(key, segment);
      this.#set = this.#set.withSegment(segment);
    } else {
      this.#segments.delete(key);
      this.#set = this.#set.withoutSegment(key);
    }
  }

  /** Goes up on every change of the set; caches of derived data (snapshots, bulk results) key on it. */
  get changeCount(): number {
    return this.#changeCount;
  }

  #changed(): void {
    this.#changeCount += 1;
    this.#updatedAt = Date.now();
    this.#options.onChange?.(this);
  }

  /** Reads and applies every change after the set's version; concurrent calls coalesce into one more run. */
  refresh(): Promise<void> {
    if (this.#catchUp) {
      this.#catchUpAgain = true;
      return this.#catchUp;
    }
    this.#catchUp = (async () => {
      try {
        do {
          this.#catchUpAgain = false;
          await this.#applyChangesSinceVersion();
        } while (this.#catchUpAgain);
      } catch (error) {
        this.#options.log.warn({ err: error }, 'flag set catch-up failed; the periodic check will retry');
      } finally {
        this.#catchUp = undefined;
      }
    })();
    return this.#catchUp;
  }

  /** The periodic check: one indexed query, and a catch-up only when the database is ahead. */
  async check(): Promise<void> {
    try {
      if ((await currentFlagSetVersion(this.#options.db)) > this.#version) {
        this.#options.log.info({ version: this.#version }, 'flag set behind the database; catching up');
        await this.refresh();
      }
    } catch (error) {
      this.#options.log.debug({ err: error }, 'flag set version check failed');
    }
  }

  /** How many catch-ups found changes; tests and metrics read it. */
  get catchUps(): number {
    return this.#catchUps;
  }

  async #applyChangesSinceVersion(): Promise<void> {
    const changes = await flagSetChangesSince(this.#options.db, this.#version);
    if (changes === 'too_many') {
      await this.#reload();
      return;
    }
    if (changes.version <= this.#version) return;
    let recompiled = 0;
    for (const key of changes.segments.keys()) recompiled += this.#usersOf(key);
    const started = performance.now();
    for (const [key, segment] of changes.segments) this.#applySegment(key, segment);
    // This process's own writes are applied already (read-your-write): not compiled, not counted, again.
    for (const flag of changes.flags) if (this.#applyFlag(flag)) recompiled += 1;
    if (changes.killswitches) this.#set = this.#set.withKillswitches(changes.killswitches);
    if (recompiled > 0 || changes.segments.size > 0 || changes.killswitches) this.#compiled('change', started, recompiled);
    this.#version = changes.version;
    this.#catchUps += 1;
    this.#changed();
  }

  async #reload(): Promise<void> {
    const state = await loadFlagSetState(this.#options.db);
    this.#flags.clear();
    this.#segments.clear();
    this.#flagVersions.clear();
    for (const flag of state.flags) {
      this.#flags.set(flag.key, flag);
      this.#flagVersions.set(flag.key, flag.version);
    }
    for (const segment of state.segments) this.#segments.set(segment.key, segment);
    const started = performance.now();
    this.#set = compileFlagSet({ flags: state.flags, segments: state.segments, killswitches: state.killswitches });
    this.#compiled('full', started, this.#set.size);
    this.#version = state.version;
    this.#changed();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#unsubscribe?.();
  }
}
