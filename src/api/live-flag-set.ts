import { compileFlagSet, type CompiledFlagSet, type Flag, type Segment } from '@flagship/engine';
import { isDatabaseUnavailable } from '../data/database-errors.ts';
import type { DatabaseStatus } from '../data/database-status.ts';
import { affectsEvaluation, currentFlagSetVersion, flagSetChangesSince, loadFlagSetState, type FlagSetState } from '../data/flag-set-source.ts';
import type { DatabasePool } from '../data/pool.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import { CatchUp } from './catch-up.ts';

/** Where the set came from: the database, or the last published snapshot while the database was down. */
export type FlagSetSource = 'database' | 'snapshot';

export interface LiveFlagSetOptions {
  db: DatabasePool;
  log: Logger;
  databaseStatus: DatabaseStatus;
  /** Wakes a catch-up on every committed change; without it only the periodic check runs. */
  changeFeed?: ChangeFeed | undefined;
  /** How often the newest change in the database is compared with the set's version. */
  checkIntervalMs?: number | undefined;
  /** Told of every compilation: all flags (`full`) or one change, its duration and how many flags it compiled. */
  onCompile?: (kind: 'full' | 'change', seconds: number, flagsCompiled: number) => void;
}

/**
 * The compiled flag set an API process evaluates against, kept current without a database round
 * trip on the evaluation path:
 * - loaded whole at start-up (from the last published snapshot when the database is down then);
 * - the process that made a write applies it before answering (read-your-write);
 * - every other change arrives through LISTEN/NOTIFY and is read from the outbox after the set's
 *   version, so a notice is only a wake-up and a lost one costs nothing but time;
 * - a periodic check compares the newest change in the database with the set's version and
 *   catches up when a notification was missed (or the database was away).
 * Per flag, a version never goes backwards, so a late notice cannot undo a newer local write.
 * While the database cannot be reached the set keeps answering and is marked stale (see CatchUp).
 */
export class LiveFlagSet {
  #set: CompiledFlagSet;
  #version: number;
  #source: FlagSetSource;
  readonly #flags = new Map<string, Flag>();
  readonly #segments = new Map<string, Segment>();
  /** The newest version of each flag applied, archived ones included, so an old state never returns. */
  readonly #flagVersions = new Map<string, number>();
  readonly #options: LiveFlagSetOptions;
  readonly #catchUp: CatchUp;
  #changeCount = 0;
  readonly #changeListeners = new Set<() => void>();

  private constructor(options: LiveFlagSetOptions, state: FlagSetState, source: FlagSetSource) {
    this.#options = options;
    this.#source = source;
    this.#set = this.#install(state);
    this.#version = state.version;
    this.#catchUp = new CatchUp({
      name: 'flag set',
      log: options.log,
      databaseStatus: options.databaseStatus,
      changeFeed: options.changeFeed,
      // Token, webhook and exposure events cannot change an answer.
      wakesOn: affectsEvaluation,
      checkIntervalMs: options.checkIntervalMs ?? 1_000,
      newestVersion: () => currentFlagSetVersion(options.db),
      heldVersion: () => this.#version,
      apply: () => this.#applyChangesSinceVersion(),
      startsStale: source === 'snapshot',
    });
  }

  /**
   * Loads the set from the database; when the database cannot be reached, from `fallback` (the last
   * published snapshot), marked stale until the database answers. With neither, keeps trying both
   * every `retryMs` (logging once), since a process cannot serve evaluations without a set.
   */
  static async open(options: LiveFlagSetOptions & { fallback?: () => Promise<FlagSetState | null>; retryMs?: number }): Promise<LiveFlagSet> {
    const started = performance.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        const live = new LiveFlagSet(options, await loadFlagSetState(options.db), 'database');
        options.databaseStatus.answered();
        options.log.info({ flags: live.#set.size, version: live.#version, ms: Math.round(performance.now() - started) }, 'flag set loaded');
        return live;
      } catch (error) {
        if (!isDatabaseUnavailable(error)) throw error;
        options.databaseStatus.unreachable(error, 'loading the flag set');
      }
      const published = await options.fallback?.();
      if (published) {
        const live = new LiveFlagSet(options, published, 'snapshot');
        options.log.warn({ flags: live.#set.size, version: live.#version }, 'PostgreSQL cannot be reached: serving the last published snapshot, stale, until it can');
        return live;
      }
      if (attempt === 0) options.log.warn('PostgreSQL cannot be reached and no published snapshot was found: waiting for either before serving');
      await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 1_000));
    }
  }

  /** The compiled set to evaluate against; replaced, never mutated, on every change. */
  get current(): CompiledFlagSet {
    return this.#set;
  }

  /** The outbox id of the newest change applied. */
  get version(): number {
    return this.#version;
  }

  get source(): FlagSetSource {
    return this.#source;
  }

  /** Whether the set may be behind the database (it cannot be reached, or the set came from a snapshot). */
  get stale(): boolean {
    return this.#catchUp.stale;
  }

  /** When the set was last confirmed current against the database (epoch ms; 0: never). */
  get confirmedAt(): number {
    return this.#catchUp.confirmedAt;
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
    if (!this.#applySegment(key, segment)) return;
    this.#compiled('change', started, users);
    this.#changed();
  }

  applyKillswitches(engaged: ReadonlySet<string>): void {
    const started = performance.now();
    if (!this.#applyKillswitches(engaged)) return;
    this.#compiled('change', started, 0);
    this.#changed();
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

  #applyFlag(flag: Flag): boolean {
    return this.#applyFlags([flag]) > 0;
  }

  /** Applies the flags newer than what is held, in one new set; answers how many were. */
  #applyFlags(flags: readonly Flag[]): number {
    const newer = flags.filter((flag) => (this.#flagVersions.get(flag.key) ?? 0) < flag.version);
    if (newer.length === 0) return 0;
    for (const flag of newer) {
      this.#flagVersions.set(flag.key, flag.version);
      if (flag.state === 'archived') this.#flags.delete(flag.key);
      else this.#flags.set(flag.key, flag);
    }
    this.#set = this.#set.withFlags(newer);
    return newer.length;
  }

  /**
   * A segment arrives twice on the process that wrote it (its own write, then the catch-up that
   * reads the event): the second time it is the same, and recompiling every flag that uses it again
   * would be wasted (a thousand flags on one segment is a thousand compilations).
   */
  #applySegment(key: string, segment: Segment | null): boolean {
    const held = this.#segments.get(key);
    if (segment) {
      if (held !== undefined && JSON.stringify(held) === JSON.stringify(segment)) return false;
      this.#segments.set(key, segment);
      this.#set = this.#set.withSegment(segment);
    } else {
      if (held === undefined) return false;
      this.#segments.delete(key);
      this.#set = this.#set.withoutSegment(key);
    }
    return true;
  }

  #applyKillswitches(engaged: ReadonlySet<string>): boolean {
    const held = this.#set.killswitches;
    if (held.size === engaged.size && [...engaged].every((category) => held.has(category))) return false;
    this.#set = this.#set.withKillswitches(engaged);
    return true;
  }

  /**
   * Goes up whenever an answer may have changed; caches of derived data (bulk results, OFREP answers,
   * the snapshot) key on it. A catch-up that only brings what this process already applied (its own
   * writes) moves the version but not this.
   */
  get changeCount(): number {
    return this.#changeCount;
  }

  /**
   * Calls `listener` whenever an answer may have changed (OFREP event streams), after the new set is
   * installed, so a client told to re-fetch finds the change here. Returns the unsubscribe.
   */
  onChange(listener: () => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  #changed(): void {
    this.#changeCount += 1;
    for (const listener of this.#changeListeners) listener();
  }

  /** Reads and applies every change after the set's version; concurrent calls coalesce into one more run. */
  refresh(): Promise<void> {
    return this.#catchUp.refresh();
  }

  /** The periodic check: compares with the database and catches up when it is ahead. */
  check(): Promise<void> {
    return this.#catchUp.check();
  }

  async #applyChangesSinceVersion(): Promise<void> {
    // A set from a snapshot has never seen the database: the first contact replaces it whole.
    const changes = this.#source === 'snapshot' ? 'too_many' : await flagSetChangesSince(this.#options.db, this.#version, { heldFlagVersion: (key) => this.#flagVersions.get(key) });
    if (changes === 'too_many') {
      await this.#reload();
      return;
    }
    if (changes.version <= this.#version) return;
    let changed = false;
    let recompiled = 0;
    const started = performance.now();
    for (const [key, segment] of changes.segments) {
      const users = this.#usersOf(key);
      if (this.#applySegment(key, segment)) {
        changed = true;
        recompiled += users;
      }
    }
    // A purged key may be created again from version 1: what was held of the old flag is forgotten first.
    for (const key of changes.purged) {
      this.#flagVersions.delete(key);
      if (this.#flags.delete(key)) {
        this.#set = this.#set.withoutFlag(key);
        changed = true;
      }
    }
    // This process's own writes are applied already (read-your-write): not compiled, not counted, again.
    const applied = this.#applyFlags(changes.flags);
    if (applied > 0) {
      changed = true;
      recompiled += applied;
    }
    if (changes.killswitches) changed = this.#applyKillswitches(changes.killswitches) || changed;
    if (changed) this.#compiled('change', started, recompiled);
    this.#version = changes.version;
    // A catch-up that only brings what this process wrote itself changes no answer: the caches of
    // derived data stay valid, so a local write empties them once, not twice.
    if (changed) this.#changed();
  }

  async #reload(): Promise<void> {
    const state = await loadFlagSetState(this.#options.db);
    this.#set = this.#install(state);
    this.#version = state.version;
    this.#source = 'database';
    this.#changed();
  }

  #install(state: FlagSetState): CompiledFlagSet {
    this.#flags.clear();
    this.#segments.clear();
    this.#flagVersions.clear();
    for (const flag of state.flags) {
      this.#flags.set(flag.key, flag);
      this.#flagVersions.set(flag.key, flag.version);
    }
    for (const segment of state.segments) this.#segments.set(segment.key, segment);
    const started = performance.now();
    const set = compileFlagSet({ flags: state.flags, segments: state.segments, killswitches: state.killswitches });
    this.#compiled('full', started, set.size);
    return set;
  }

  close(): void {
    this.#catchUp.close();
  }
}
