import type { CompiledFlagSet, EvaluationResult, Reason } from '../engine/index.ts';
import type { DatabasePool } from '../data/pool.ts';
import { addEvaluationCounts, type EvaluationCountRow } from '../data/insights.ts';
import type { Logger } from '../log.ts';

/** Rows of a flag's grid besides its rules: every reason but `rule`, then one row for a rule this process does not know. */
const REASON_ROWS = { default: 0, percentage: 1, prerequisite_failed: 2, off: 3, error: 4 } as const satisfies Record<Exclude<Reason, 'rule'>, number>;
const UNKNOWN_RULE_ROW = 5;
const FIXED_ROWS = 6;
/** Rules past this many are counted in the unknown-rule row: the grid of a flag stays small. */
const MAX_RULE_ROWS = 64;
/** Distinct served outcomes (a variant, or a value) counted apart per flag; later ones share the last column. */
const MAX_OUTCOMES = 16;
const OTHER_OUTCOME = MAX_OUTCOMES;
const COLUMNS = MAX_OUTCOMES + 1;
/** A served value is kept as its JSON, cut to this many characters. */
const VALUE_TEXT_MAX = 200;

/** What is counted of an answer: an evaluation result, or an SDK's exposure (whose value may be absent). */
type Counted = Pick<EvaluationResult, 'flagKey' | 'flagVersion' | 'reason' | 'variant' | 'ruleId'> & { value: unknown };

interface Outcome {
  variant: string;
  value: string;
}

/**
 * The counts of one flag version: a grid of (reason or rule) × outcome in a Float64Array, so
 * counting is two map lookups and an indexed addition. Outcomes are numbered as first seen.
 */
class FlagCounts {
  readonly key: string;
  readonly version: number;
  readonly slots: Float64Array;
  readonly ruleRows = new Map<string, number>();
  readonly ruleIds: string[] = [];
  readonly byVariant = new Map<string, number>();
  readonly byValue = new Map<unknown, number>();
  readonly outcomes: Outcome[] = [];

  constructor(key: string, version: number, ruleIds: readonly string[]) {
    this.key = key;
    this.version = version;
    for (const id of ruleIds.slice(0, MAX_RULE_ROWS)) {
      this.ruleRows.set(id, FIXED_ROWS + this.ruleIds.length);
      this.ruleIds.push(id);
    }
    this.slots = new Float64Array((FIXED_ROWS + this.ruleIds.length) * COLUMNS);
  }

  count(result: Counted, times: number): void {
    const row = result.reason === 'rule' ? (this.ruleRows.get(result.ruleId ?? '') ?? UNKNOWN_RULE_ROW) : REASON_ROWS[result.reason];
    const column = result.variant === null ? this.byValue.get(result.value) : this.byVariant.get(result.variant);
    this.slots[row * COLUMNS + (column ?? this.#newOutcome(result))]! += times;
  }

  /** Once per outcome: a variant, or a value (primitives by value; JSON by reference, as the compiled flag holds it). */
  #newOutcome(result: Counted): number {
    if (this.outcomes.length >= MAX_OUTCOMES) return OTHER_OUTCOME;
    const index = this.outcomes.length;
    this.outcomes.push({ variant: result.variant ?? '', value: (JSON.stringify(result.value) ?? 'null').slice(0, VALUE_TEXT_MAX) });
    if (result.variant === null) this.byValue.set(result.value, index);
    else this.byVariant.set(result.variant, index);
    return index;
  }

  /** Its non-zero counts as rows, zeroed as they are read (one synchronous pass: no count is lost between). */
  drain(into: EvaluationCountRow[]): void {
    const slots = this.slots;
    for (let index = 0; index < slots.length; index += 1) {
      const count = slots[index]!;
      if (count === 0) continue;
      slots[index] = 0;
      const row = Math.floor(index / COLUMNS);
      const column = index % COLUMNS;
      const outcome = column === OTHER_OUTCOME ? { variant: '', value: '' } : this.outcomes[column]!;
      into.push({
        flagKey: this.key,
        reason: row < FIXED_ROWS ? (row === UNKNOWN_RULE_ROW ? 'rule' : REASON_NAMES[row]!) : 'rule',
        ruleId: row >= FIXED_ROWS ? this.ruleIds[row - FIXED_ROWS]! : '',
        variant: outcome.variant,
        value: outcome.value,
        count,
      });
    }
  }
}

const REASON_NAMES: readonly string[] = Object.entries(REASON_ROWS).sort(([, a], [, b]) => a - b).map(([name]) => name);

/**
 * Evaluations per flag, reason, rule, variant and served value, counted in memory on the
 * evaluation path and added to PostgreSQL every `flushSeconds` off it (docs/lifecycle.md#insights).
 * Counting allocates nothing once a flag version's grid exists (made on its first evaluation) and
 * takes no lock: the flush reads and zeroes the grids in one synchronous pass between evaluations.
 * Memory is bounded by the flags evaluated: one grid per flag of at most (6 + 64 rules) × 17 slots.
 */
export class FlagInsights {
  readonly #db: DatabasePool;
  readonly #log: Logger;
  readonly #counts = new Map<string, FlagCounts>();
  /** Grids of replaced versions, still holding counts until the next flush. */
  #retired: FlagCounts[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(options: { db: DatabasePool; log: Logger; flushSeconds: number }) {
    this.#db = options.db;
    this.#log = options.log;
    if (options.flushSeconds > 0) {
      this.#timer = setInterval(() => void this.flush(), options.flushSeconds * 1_000);
      this.#timer.unref();
    }
  }

  /** Counts one answer of `set`. */
  count(set: CompiledFlagSet, result: EvaluationResult): void {
    this.#grid(set, result).count(result, 1);
  }

  /** Counts every answer of a bulk evaluation of `set`. */
  countAll(set: CompiledFlagSet, results: readonly EvaluationResult[]): void {
    for (const result of results) this.#grid(set, result).count(result, 1);
  }

  /** Counts exposures an SDK reported (evaluated locally): `times` of the same answer. */
  countExposure(result: Counted, times: number): void {
    this.#grid(null, result).count(result, times);
  }

  #grid(set: CompiledFlagSet | null, result: Counted): FlagCounts {
    const held = this.#counts.get(result.flagKey);
    if (held !== undefined && held.version === result.flagVersion) return held;
    // Once per flag version on this process.
    if (held !== undefined) this.#retired.push(held);
    const compiled = set?.flags.get(result.flagKey);
    const grid = new FlagCounts(result.flagKey, result.flagVersion, compiled && compiled.version === result.flagVersion ? compiled.rules.map((rule) => rule.id) : []);
    this.#counts.set(result.flagKey, grid);
    return grid;
  }

  /** Adds what was counted since the last flush to the database; runs one at a time. Counts of a failed flush are logged and dropped. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const rows: EvaluationCountRow[] = [];
      for (const grid of this.#retired) grid.drain(rows);
      this.#retired = [];
      for (const grid of this.#counts.values()) grid.drain(rows);
      if (rows.length === 0) return;
      try {
        await addEvaluationCounts(this.#db, rows);
      } catch (error) {
        this.#log.warn({ err: error, rows: rows.length }, 'could not add evaluation counts to the database; these counts are lost');
      }
    });
    return this.#flushing;
  }

  /** Stops the timer and flushes what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
