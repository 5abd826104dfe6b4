import type { CompiledFlagSet, EvaluationResult, Reason } from '@flagship/engine';
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
 * The counts of one flag version: cells of (reason or rule) × outcome. A flag answers with a
 * handful of combinations, so the first four cells and a boolean's two outcomes are fields of this
 * object itself: counting them touches this object and nothing else (with 10,000 flags in turn,
 * each further object is another cache miss). More cells go to arrays; an outcome other than
 * true or false is found in a map. Outcomes are numbered as first seen; a new cell or outcome is
 * the only thing that allocates, once per combination.
 */
class FlagCounts {
  readonly key: string;
  readonly version: number;
  readonly ruleRows = new Map<string, number>();
  readonly ruleIds: string[] = [];
  readonly byVariant = new Map<string, number>();
  readonly byValue = new Map<unknown, number>();
  readonly outcomes: Outcome[] = [];
  #trueColumn = -1;
  #falseColumn = -1;
  #cell0 = -1;
  #count0 = 0;
  #cell1 = -1;
  #count1 = 0;
  #cell2 = -1;
  #count2 = 0;
  #cell3 = -1;
  #count3 = 0;
  #moreCells: number[] = [];
  #moreCounts: number[] = [];

  constructor(key: string, version: number, ruleIds: readonly string[]) {
    this.key = key;
    this.version = version;
    for (const id of ruleIds.slice(0, MAX_RULE_ROWS)) {
      this.ruleRows.set(id, FIXED_ROWS + this.ruleIds.length);
      this.ruleIds.push(id);
    }
  }

  count(result: Counted, times: number): void {
    const row = result.reason === 'rule' ? (this.ruleRows.get(result.ruleId ?? '') ?? UNKNOWN_RULE_ROW) : REASON_ROWS[result.reason];
    const cell = row * COLUMNS + this.#column(result);
    if (cell === this.#cell0) this.#count0 += times;
    else if (cell === this.#cell1) this.#count1 += times;
    else if (cell === this.#cell2) this.#count2 += times;
    else if (cell === this.#cell3) this.#count3 += times;
    else this.#countMore(cell, times);
  }

  #column(result: Counted): number {
    const value = result.value;
    if (result.variant !== null) return this.byVariant.get(result.variant) ?? this.#newOutcome(result);
    if (value === true) return this.#trueColumn >= 0 ? this.#trueColumn : (this.#trueColumn = this.#newOutcome(result));
    if (value === false) return this.#falseColumn >= 0 ? this.#falseColumn : (this.#falseColumn = this.#newOutcome(result));
    return this.byValue.get(value) ?? this.#newOutcome(result);
  }

  #countMore(cell: number, times: number): void {
    if (this.#cell0 < 0) [this.#cell0, this.#count0] = [cell, times];
    else if (this.#cell1 < 0) [this.#cell1, this.#count1] = [cell, times];
    else if (this.#cell2 < 0) [this.#cell2, this.#count2] = [cell, times];
    else if (this.#cell3 < 0) [this.#cell3, this.#count3] = [cell, times];
    else {
      const index = this.#moreCells.indexOf(cell);
      if (index >= 0) this.#moreCounts[index]! += times;
      else {
        this.#moreCells.push(cell);
        this.#moreCounts.push(times);
      }
    }
  }

  /** Once per outcome: a variant, or a value (primitives by value; JSON by reference, as the compiled flag holds it). */
  #newOutcome(result: Counted): number {
    if (this.outcomes.length >= MAX_OUTCOMES) return OTHER_OUTCOME;
    const index = this.outcomes.length;
    this.outcomes.push({ variant: result.variant ?? '', value: (JSON.stringify(result.value) ?? 'null').slice(0, VALUE_TEXT_MAX) });
    if (result.variant !== null) this.byVariant.set(result.variant, index);
    else if (typeof result.value !== 'boolean') this.byValue.set(result.value, index);
    return index;
  }

  /** Its non-zero counts as rows, zeroed as they are read (one synchronous pass: no count is lost between). */
  drain(into: EvaluationCountRow[]): void {
    const emit = (cell: number, count: number): void => {
      if (cell < 0 || count === 0) return;
      const row = Math.floor(cell / COLUMNS);
      const column = cell % COLUMNS;
      const outcome = column === OTHER_OUTCOME ? { variant: '', value: '' } : this.outcomes[column]!;
      into.push({
        flagKey: this.key,
        reason: row < UNKNOWN_RULE_ROW ? REASON_NAMES[row]! : 'rule',
        ruleId: row >= FIXED_ROWS ? this.ruleIds[row - FIXED_ROWS]! : '',
        variant: outcome.variant,
        value: outcome.value,
        count,
      });
    };
    emit(this.#cell0, this.#count0);
    emit(this.#cell1, this.#count1);
    emit(this.#cell2, this.#count2);
    emit(this.#cell3, this.#count3);
    this.#count0 = this.#count1 = this.#count2 = this.#count3 = 0;
    this.#moreCells.forEach((cell, index) => emit(cell, this.#moreCounts[index]!));
    this.#moreCounts.fill(0);
  }
}

const REASON_NAMES: readonly string[] = Object.entries(REASON_ROWS).sort(([, a], [, b]) => a - b).map(([name]) => name);

/**
 * Evaluations per flag, reason, rule, variant and served value, counted in memory on the
 * evaluation path and added to PostgreSQL every `flushSeconds` off it (docs/lifecycle.md#insights).
 * Counting allocates nothing once a flag version's counts exist (made on its first evaluation, a
 * cell more on the first sight of a combination) and takes no lock: the flush reads and zeroes them
 * in one synchronous pass between evaluations. Memory is bounded by the flags evaluated: per flag at
 * most (6 + 64 rules) × 17 cells, in practice the handful of combinations it answers with.
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
