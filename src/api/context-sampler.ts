import { randomUUID } from 'node:crypto';
import { attributeKeeper, attributesRead, compileAttributeReader, type AttributeReader, type CompiledFlagSet, type EvaluationContext, type EvaluationResult } from '@flagship/engine';
import { storeContextSamples, type SampledContextRow } from '../data/context-samples.ts';
import type { DatabasePool } from '../data/pool.ts';
import type { ContextSampleConfig } from '../config.ts';
import type { Logger } from '../log.ts';

/** Attribute names remembered as seen (for the linter), whatever contexts carry. */
const MAX_SEEN_ATTRIBUTES = 1_000;

/** The scope of the overall sample in `context_samples` (a flag's own sample is scoped by its key). */
export const OVERALL_SCOPE = '';

/**
 * A uniform sample of fixed size over a stream of unknown length (reservoir sampling, Li's
 * Algorithm L). It draws how many offers to skip before the next one it takes, so an offer that is
 * not taken, nearly all of them once the reservoir has seen a few times its size, is a counter
 * increment and a compare. A taken offer stores a reference to the context in preallocated slots:
 * copying the kept attributes and serializing them happen at the flush, off the evaluation path.
 */
class Reservoir {
  readonly scope: string;
  /** The taken context, until the flush has copied what it keeps of it. */
  readonly contexts: (EvaluationContext | undefined)[];
  readonly tokens: string[];
  readonly takenAt: Float64Array;
  #seen = 0;
  /** The count of offers at which the next one is taken. */
  #next = 1;
  #weight: number;

  constructor(scope: string, capacity: number) {
    this.scope = scope;
    this.contexts = new Array<EvaluationContext | undefined>(capacity).fill(undefined);
    this.tokens = new Array<string>(capacity).fill('');
    this.takenAt = new Float64Array(capacity);
    this.#weight = Math.exp(Math.log(Math.random()) / capacity);
  }

  offer(context: EvaluationContext, token: string): void {
    if (++this.#seen !== this.#next) return;
    const slot = this.#take();
    this.contexts[slot] = context;
    this.tokens[slot] = token;
    this.takenAt[slot] = Date.now();
  }

  /** The slot the taken offer goes to; moves on to the next offer to take. */
  #take(): number {
    const capacity = this.contexts.length;
    if (this.#seen <= capacity) {
      this.#next = this.#seen === capacity ? this.#seen + this.#skip() : this.#seen + 1;
      return this.#seen - 1;
    }
    this.#weight *= Math.exp(Math.log(Math.random()) / capacity);
    this.#next = this.#seen + this.#skip();
    return Math.floor(Math.random() * capacity);
  }

  #skip(): number {
    return Math.floor(Math.log(Math.random()) / Math.log(1 - this.#weight)) + 1;
  }
}

/**
 * The contexts this API process evaluates, sampled for impact previews (docs/impact-preview.md):
 * one reservoir over every evaluation and one per flag, keeping of each taken context only the
 * attributes the flag set reads and the identity attributes. Offering costs the evaluation path a
 * map lookup and a counter per reservoir; only a taken context is copied, and that grows rarer as
 * the reservoirs fill. What was taken is written to PostgreSQL every few seconds, off the path.
 */
export class ContextSampler {
  readonly #db: DatabasePool;
  readonly #log: Logger;
  readonly #live: () => CompiledFlagSet;
  readonly #config: ContextSampleConfig;
  readonly #process = randomUUID();
  readonly #overall: Reservoir;
  readonly #perFlag = new Map<string, Reservoir | null>();
  /** Per-flag reservoirs this process may still open, so its rows stay within its share. */
  #flagReservoirsLeft: number;
  #keptFor: CompiledFlagSet | null = null;
  #keep: (context: EvaluationContext) => Record<string, unknown> | null = () => null;
  #readers: readonly [string, AttributeReader][] = [];
  readonly #seenAttributes = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(options: { db: DatabasePool; log: Logger; live: () => CompiledFlagSet; config: ContextSampleConfig }) {
    this.#db = options.db;
    this.#log = options.log;
    this.#live = options.live;
    this.#config = options.config;
    this.#overall = new Reservoir(OVERALL_SCOPE, options.config.size);
    this.#flagReservoirsLeft = options.config.perFlag === 0 ? 0 : Math.max(0, Math.floor((options.config.maxRows - options.config.size) / options.config.perFlag));
    this.#timer = setInterval(() => void this.flush(), options.config.flushSeconds * 1_000);
    this.#timer.unref();
  }

  /** Offers the context of one evaluation of `flagKey`, asked with the token named `token`. */
  offer(flagKey: string, context: EvaluationContext, token: string): void {
    this.#overall.offer(context, token);
    const reservoir = this.#perFlag.get(flagKey);
    if (reservoir) reservoir.offer(context, token);
    else if (reservoir === undefined) this.#open(flagKey)?.offer(context, token);
  }

  /** Offers the context of a bulk evaluation: once to the overall sample, once to each flag's. */
  offerAll(results: readonly EvaluationResult[], context: EvaluationContext, token: string): void {
    this.#overall.offer(context, token);
    for (let i = 0; i < results.length; i++) {
      const flagKey = results[i]!.flagKey;
      const reservoir = this.#perFlag.get(flagKey);
      if (reservoir) reservoir.offer(context, token);
      else if (reservoir === undefined) this.#open(flagKey)?.offer(context, token);
    }
  }

  /** The attributes sampled contexts of this process carried: the paths the flag set reads, and top-level names (for the linter's bucketing check). */
  get attributesSeen(): ReadonlySet<string> {
    return this.#seenAttributes;
  }

  /** Once per flag on this process; null once the per-flag reservoirs are used up (the flag then has only the overall sample). */
  #open(flagKey: string): Reservoir | null {
    const reservoir = this.#flagReservoirsLeft > 0 ? new Reservoir(flagKey, this.#config.perFlag) : null;
    if (reservoir) this.#flagReservoirsLeft--;
    this.#perFlag.set(flagKey, reservoir);
    return reservoir;
  }

  /** What a taken context keeps: the attributes the live set reads; null for none, or past the size cap. */
  #kept(context: EvaluationContext): string | null {
    const set = this.#live();
    if (set !== this.#keptFor) {
      const attributes = attributesRead(set);
      this.#keep = attributeKeeper(attributes);
      this.#readers = attributes.map((path) => [path, compileAttributeReader(path)]);
      this.#keptFor = set;
    }
    const kept = this.#keep(context);
    if (kept === null) return null;
    const json = JSON.stringify(kept);
    if (Buffer.byteLength(json) > this.#config.maxContextBytes) return null;
    for (const [path, read] of this.#readers) if (read(context) !== undefined) this.#seenAttributes.add(path);
    // Names only, never values, and a bounded number of them: so the linter can tell a new bucketing
    // attribute that contexts do carry from one they never do.
    for (const name of Object.keys(context)) {
      if (this.#seenAttributes.size >= MAX_SEEN_ATTRIBUTES) break;
      this.#seenAttributes.add(name);
    }
    return json;
  }

  /**
   * Copies what the contexts taken since the last flush keep, writes them, then trims to retention
   * and the row cap; one flush at a time. Holding a taken context until then costs memory only for
   * the few taken between two flushes.
   */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const rows: SampledContextRow[] = [];
      const collect = (reservoir: Reservoir) => {
        for (let slot = 0; slot < reservoir.contexts.length; slot++) {
          const context = reservoir.contexts[slot];
          if (context === undefined) continue;
          reservoir.contexts[slot] = undefined;
          const json = this.#kept(context);
          // A context that keeps nothing (or too much) leaves the slot with what it held before.
          if (json === null) continue;
          rows.push({ scope: reservoir.scope, slot, context: json, token: reservoir.tokens[slot]!, sampledAt: reservoir.takenAt[slot]! });
        }
      };
      collect(this.#overall);
      for (const reservoir of this.#perFlag.values()) if (reservoir) collect(reservoir);
      try {
        await storeContextSamples(this.#db, this.#process, rows, { retentionDays: this.#config.retentionDays, maxRows: this.#config.maxRows });
      } catch (error) {
        this.#log.warn({ err: error, rows: rows.length }, 'could not write sampled contexts to the database; the next samples replace them');
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
