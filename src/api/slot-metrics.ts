import type { Metric, Registry } from 'prom-client';

/** One exposition line, as prom-client's registry formats it. */
interface Sample {
  metricName?: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Metrics whose values live in slots of a Float64Array, so that counting is one indexed addition:
 * prom-client's `inc(labels)` hashes the label object into a new string on every call, which the
 * evaluation path cannot afford. Every label combination is known up front (or added once, off the
 * path), and the exposition text is built from the slots only when Prometheus scrapes.
 */
abstract class SlotMetric {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum' as const;

  constructor(options: { name: string; help: string; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    // prom-client's registry reads only name, help, type and get(); its types name its own classes.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  protected abstract values(): Sample[];

  async get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() };
  }

  /** Counters here are never reset: Prometheus sees a restart as the reset. */
  reset(): void {}
}

/** A counter over a fixed grid of label values: slot `index(a, b)` counts the pair (a, b). */
export class SlotCounter<Labels extends string> extends SlotMetric {
  readonly type = 'counter';
  readonly slots: Float64Array;
  readonly #labels: readonly Record<Labels, string>[];

  /** `labels[i]` names the labels of slot i; the slots are as many. */
  constructor(options: { name: string; help: string; registers: Registry[]; labels: readonly Record<Labels, string>[] }) {
    super(options);
    this.#labels = options.labels;
    this.slots = new Float64Array(options.labels.length);
  }

  protected values(): Sample[] {
    return this.#labels.map((labels, index) => ({ labels, value: this.slots[index]! }));
  }
}

/** A counter whose label sets are added as they are first seen (off the hot path), each with a slot of its own. */
export class GrowingCounter<Labels extends string> extends SlotMetric {
  readonly type = 'counter';
  readonly #series: { labels: Record<Labels, string>; slot: Float64Array }[] = [];

  /** A new series; the caller keeps the slot and adds to `slot[0]`. */
  series(labels: Record<Labels, string>): Float64Array {
    const slot = new Float64Array(1);
    this.#series.push({ labels, slot });
    return slot;
  }

  /** Drops the series whose labels match; Prometheus then marks it stale. */
  remove(matches: (labels: Record<Labels, string>) => boolean): void {
    for (let index = this.#series.length - 1; index >= 0; index -= 1) {
      if (matches(this.#series[index]!.labels)) this.#series.splice(index, 1);
    }
  }

  protected values(): Sample[] {
    return this.#series.map(({ labels, slot }) => ({ labels, value: slot[0]! }));
  }
}

/**
 * A histogram per value of one label, with fixed buckets: `observe(series, value)` finds the bucket
 * by a short linear scan (a dozen bounds) and adds to three slots.
 */
export class SlotHistogram<Label extends string> extends SlotMetric {
  readonly type = 'histogram';
  readonly #label: Label;
  readonly #seriesNames: readonly string[];
  readonly #buckets: Float64Array;
  /** Per series: one count per bucket (not cumulative), then +Inf, then the sum, then the count. */
  readonly #slots: Float64Array;
  readonly #stride: number;

  constructor(options: { name: string; help: string; registers: Registry[]; label: Label; series: readonly string[]; buckets: readonly number[] }) {
    super(options);
    this.#label = options.label;
    this.#seriesNames = options.series;
    this.#buckets = Float64Array.from(options.buckets);
    this.#stride = options.buckets.length + 3;
    this.#slots = new Float64Array(this.#stride * options.series.length);
  }

  observe(series: number, value: number): void {
    const base = series * this.#stride;
    const buckets = this.#buckets;
    let bucket = 0;
    while (bucket < buckets.length && value > buckets[bucket]!) bucket += 1;
    this.#slots[base + bucket]! += 1;
    this.#slots[base + buckets.length + 1]! += value;
    this.#slots[base + buckets.length + 2]! += 1;
  }

  protected values(): Sample[] {
    const values: Sample[] = [];
    const bounds = this.#buckets.length;
    this.#seriesNames.forEach((name, series) => {
      const base = series * this.#stride;
      let cumulative = 0;
      for (let bucket = 0; bucket <= bounds; bucket += 1) {
        cumulative += this.#slots[base + bucket]!;
        const le = bucket === bounds ? '+Inf' : String(this.#buckets[bucket]);
        values.push({ metricName: `${this.name}_bucket`, labels: { le, [this.#label]: name }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { [this.#label]: name }, value: this.#slots[base + bounds + 1]! });
      values.push({ metricName: `${this.name}_count`, labels: { [this.#label]: name }, value: this.#slots[base + bounds + 2]! });
    });
    return values;
  }
}
