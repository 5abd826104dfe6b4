import type { Registry } from 'prom-client';
import { REASONS, type CompiledFlagSet, type EvaluationResult, type Reason } from '@flagship/engine';
import { GrowingCounter, SlotCounter, SlotHistogram } from './slot-metrics.ts';

const EVALUATION_ENDPOINTS = ['evaluate', 'bulk', 'ofrep', 'ofrep_bulk'] as const;
export type EvaluationEndpoint = (typeof EVALUATION_ENDPOINTS)[number];
const ENDPOINT_INDEX = { evaluate: 0, bulk: 1, ofrep: 2, ofrep_bulk: 3 } as const satisfies Record<EvaluationEndpoint, number>;

const REASON_INDEX = { default: 0, rule: 1, percentage: 2, prerequisite_failed: 3, off: 4, error: 5 } as const satisfies Record<Reason, number>;

/** Flags carrying this tag are counted one by one (by reason and rule); all others only in the totals. */
export const PER_FLAG_METRICS_TAG = 'flagship:metrics';
/**
 * At most this many tagged flags get series of their own (the first by key, so every process picks
 * the same): about 5 series each plus one per rule that answers, so a few thousand series at most
 * however many flags are tagged by mistake. Tagged flags past it are logged and left out.
 */
export const PER_FLAG_METRICS_LIMIT = 200;

/**
 * The latency buckets put the PRD's 20 ms target on a bound, so the p95 alert compares counts
 * instead of interpolating between 10 and 25 ms.
 */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];

interface FlagSeries {
  /** One slot per reason (the `rule` slot unused: rules count by rule id). */
  byReason: Float64Array[];
  byRule: Map<string, Float64Array>;
}

/**
 * Evaluation counts and latency, kept where counting costs an indexed addition and no allocation
 * (measured in `npm run bench:metrics`):
 * - `flags_evaluations_total{endpoint, reason}`: every evaluation, a fixed 24 series whatever the
 *   number of flags;
 * - `flags_flag_evaluations_total{flag, reason, rule}`: only flags tagged `flagship:metrics`,
 *   at most PER_FLAG_METRICS_LIMIT of them;
 * - `flags_evaluation_duration_seconds{endpoint}`.
 */
export class EvaluationMetrics {
  readonly #totals: SlotCounter<'endpoint' | 'reason'>;
  readonly #perFlag: GrowingCounter<'flag' | 'reason' | 'rule'>;
  readonly #latency: SlotHistogram<'endpoint'>;
  readonly #onOverLimit: (flags: string[]) => void;
  /** The set the tagged flags were last read from: a new set (every change makes one) is read again. */
  #taggedIn: CompiledFlagSet | undefined;
  #tagged = new Map<string, FlagSeries>();
  #overLimit = '';

  constructor(registry: Registry, options: { onOverLimit?: (flags: string[]) => void } = {}) {
    this.#onOverLimit = options.onOverLimit ?? (() => {});
    this.#totals = new SlotCounter({
      name: 'flags_evaluations_total',
      help: 'Flag evaluations answered, by endpoint and reason.',
      registers: [registry],
      labels: EVALUATION_ENDPOINTS.flatMap((endpoint) => REASONS.map((reason) => ({ endpoint, reason }))),
    });
    this.#perFlag = new GrowingCounter({
      name: 'flags_flag_evaluations_total',
      help: `Evaluations of each flag tagged ${PER_FLAG_METRICS_TAG} (at most ${PER_FLAG_METRICS_LIMIT} flags), by reason and rule (empty unless the reason is rule).`,
      registers: [registry],
    });
    this.#latency = new SlotHistogram({
      name: 'flags_evaluation_duration_seconds',
      help: 'Time to answer an evaluation request inside the process (routing to response body).',
      registers: [registry],
      label: 'endpoint',
      series: EVALUATION_ENDPOINTS,
      buckets: LATENCY_BUCKETS,
    });
  }

  /** Counts one answer of `set`. */
  count(set: CompiledFlagSet, result: EvaluationResult, endpoint: EvaluationEndpoint): void {
    this.#totals.slots[ENDPOINT_INDEX[endpoint] * REASONS.length + REASON_INDEX[result.reason]]! += 1;
    if (set !== this.#taggedIn) this.#readTags(set);
    if (this.#tagged.size !== 0) this.#countFlag(result);
  }

  /** Counts every answer of a bulk evaluation of `set`. */
  countAll(set: CompiledFlagSet, results: readonly EvaluationResult[], endpoint: EvaluationEndpoint): void {
    const base = ENDPOINT_INDEX[endpoint] * REASONS.length;
    const totals = this.#totals.slots;
    for (const result of results) totals[base + REASON_INDEX[result.reason]]! += 1;
    if (set !== this.#taggedIn) this.#readTags(set);
    if (this.#tagged.size !== 0) for (const result of results) this.#countFlag(result);
  }

  observeSeconds(endpoint: EvaluationEndpoint, seconds: number): void {
    this.#latency.observe(ENDPOINT_INDEX[endpoint], seconds);
  }

  #countFlag(result: EvaluationResult): void {
    const series = this.#tagged.get(result.flagKey);
    if (series === undefined) return;
    if (result.reason !== 'rule') {
      series.byReason[REASON_INDEX[result.reason]]![0]! += 1;
      return;
    }
    const rule = result.ruleId ?? '';
    let slot = series.byRule.get(rule);
    if (slot === undefined) {
      // Once per rule that answers: a flag has at most 500 rules (engine LIMITS).
      slot = this.#perFlag.series({ flag: result.flagKey, reason: 'rule', rule });
      series.byRule.set(rule, slot);
    }
    slot[0]! += 1;
  }

  /**
   * Once per change of the set, on the first evaluation after it: a scan of the tags, about 150 µs
   * for 10,000 flags (the change itself copied the set's map of that size). A flag that lost the
   * tag, or was archived, loses its series.
   */
  #readTags(set: CompiledFlagSet): void {
    this.#taggedIn = set;
    const keys: string[] = [];
    for (const compiled of set.flags.values()) if (compiled.flag.tags.includes(PER_FLAG_METRICS_TAG)) keys.push(compiled.key);
    const untagged = this.#tagged.size === 0 && keys.length === 0;
    if (untagged) return;
    keys.sort();
    const kept = keys.slice(0, PER_FLAG_METRICS_LIMIT);
    const overLimit = keys.slice(PER_FLAG_METRICS_LIMIT);
    if (overLimit.join() !== this.#overLimit && overLimit.length) this.#onOverLimit(overLimit);
    this.#overLimit = overLimit.join();
    const next = new Map<string, FlagSeries>();
    for (const key of kept) next.set(key, this.#tagged.get(key) ?? this.#newFlagSeries(key));
    const dropped = new Set([...this.#tagged.keys()].filter((key) => !next.has(key)));
    if (dropped.size) this.#perFlag.remove((labels) => dropped.has(labels.flag));
    this.#tagged = next;
  }

  #newFlagSeries(flag: string): FlagSeries {
    return {
      byReason: REASONS.map((reason) => (reason === 'rule' || reason === 'error' ? new Float64Array(1) : this.#perFlag.series({ flag, reason, rule: '' }))),
      byRule: new Map(),
    };
  }
}
