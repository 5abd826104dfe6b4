/**
 * Metrics benchmark: `npm run bench:metrics`.
 *
 * What recording one evaluation costs the hot path, before and after issue 17, in one run:
 *   before  prom-client: flags_evaluations_total.inc({ flag, reason, endpoint }) and
 *           flags_evaluation_duration_seconds.observe({ endpoint }, s), as the routes did;
 *   after   EvaluationMetrics.count + observeSeconds (slots in a Float64Array), with no flag
 *           tagged for per-flag series, and with the evaluated flag tagged.
 * Each is timed with mitata (ns per evaluation, 10,000 flags, results rotating over them), then
 * run 2,000,000 times while counting the young-generation collections V8 makes: an allocation
 * per call shows as hundreds of them, none as zero. Also the cost of rendering /metrics.
 * The last case adds what issue 15 put on the path: FlagInsights.count (per-flag counts by
 * reason, rule, variant and value) after every flag was evaluated once, never flushed here, so the
 * cost is the counting alone.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { do_not_optimize, measure } from 'mitata';
import { Counter, Histogram, Registry } from 'prom-client';
import { EvaluationMetrics, PER_FLAG_METRICS_TAG } from '../src/api/evaluation-metrics.ts';
import { FlagInsights } from '../src/api/flag-insights.ts';
import type { DatabasePool } from '../src/data/pool.ts';
import { createLogger } from '../src/log.ts';
import { compileFlagSet, evaluate, type EvaluationResult, type Flag } from '@flagship/engine';
import { validateFlag } from '@flagship/engine/validate';

const FLAGS = 10_000;
const REPEATS = 2_000_000;

function flag(key: string, tags: string[]): Flag {
  const result = validateFlag({ key, type: 'boolean', defaultValue: false, tags, rollout: { percentage: 50 } });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return { ...result.value, state: 'active', version: 1 };
}

const untaggedSet = compileFlagSet({ flags: Array.from({ length: FLAGS }, (_, index) => flag(`flag-${index}`, [])), segments: [] });
// The same flags with the first 100 tagged: the rotating results hit a tagged flag 1% of the time,
// and `tagged` below always does.
const taggedSet = compileFlagSet({ flags: Array.from({ length: FLAGS }, (_, index) => flag(`flag-${index}`, index < 100 ? [PER_FLAG_METRICS_TAG] : [])), segments: [] });
const results: EvaluationResult[] = Array.from({ length: FLAGS }, (_, index) => evaluate(untaggedSet, `flag-${index}`, { userId: `u-${index}` })!);
const taggedResult = evaluate(taggedSet, 'flag-7', { userId: 'u-7' })!;

function before() {
  const registry = new Registry();
  const evaluations = new Counter({ name: 'flags_evaluations_total', help: 'h', labelNames: ['flag', 'reason', 'endpoint'], registers: [registry] });
  const seconds = new Histogram({ name: 'flags_evaluation_duration_seconds', help: 'h', labelNames: ['endpoint'], buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1], registers: [registry] });
  return {
    registry,
    record(result: EvaluationResult) {
      evaluations.inc({ flag: result.flagKey, reason: result.reason, endpoint: 'evaluate' });
      seconds.observe({ endpoint: 'evaluate' }, 0.0003);
    },
  };
}

function after(set: typeof untaggedSet) {
  const registry = new Registry();
  const metrics = new EvaluationMetrics(registry);
  return {
    registry,
    record(result: EvaluationResult) {
      metrics.count(set, result, 'evaluate');
      metrics.observeSeconds('evaluate', 0.0003);
    },
  };
}

function afterWithInsights(set: typeof untaggedSet) {
  const counted = after(set);
  // Never flushed (flushSeconds 0): no database is needed to measure the counting.
  const insights = new FlagInsights({ db: null as unknown as DatabasePool, log: createLogger('silent', 'bench'), flushSeconds: 0 });
  // A serving process has met its flags already: each flag version's grid is made on its first
  // evaluation (once), so the timed loop measures counting, not 10,000 first sightings.
  for (const result of results) insights.count(set, result);
  return {
    registry: counted.registry,
    record(result: EvaluationResult) {
      counted.record(result);
      insights.count(set, result);
    },
  };
}

async function nsPerEvaluation(record: (result: EvaluationResult) => void, pick: (index: number) => EvaluationResult): Promise<number> {
  let index = 0;
  const stats = await measure(() => {
    record(pick(index));
    if (++index === FLAGS) index = 0;
  });
  return stats.avg;
}

/** Young-generation collections during REPEATS recordings (after a warm-up that creates every series). */
async function scavenges(record: (result: EvaluationResult) => void, pick: (index: number) => EvaluationResult): Promise<number> {
  for (let index = 0; index < FLAGS; index += 1) record(pick(index));
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) count += 1;
  });
  observer.observe({ entryTypes: ['gc'] });
  for (let repeat = 0; repeat < REPEATS; repeat += 1) record(pick(repeat % FLAGS));
  // GC entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 100));
  observer.disconnect();
  return count;
}

async function renderMs(registry: Registry): Promise<number> {
  const started = performance.now();
  for (let repeat = 0; repeat < 20; repeat += 1) do_not_optimize(await registry.metrics());
  return (performance.now() - started) / 20;
}

const rotating = (index: number) => results[index]!;
const alwaysTagged = () => taggedResult;
const cases = [
  { name: 'before: prom-client inc/observe with a flag label', make: () => before(), pick: rotating },
  { name: 'after: slots, no flag tagged', make: () => after(untaggedSet), pick: rotating },
  { name: 'after: slots, 100 flags tagged, rotating', make: () => after(taggedSet), pick: rotating },
  { name: 'after: slots, evaluated flag tagged', make: () => after(taggedSet), pick: alwaysTagged },
  { name: 'after + per-flag insights (issue 15), rotating', make: () => afterWithInsights(untaggedSet), pick: rotating },
];

console.log(`Recording one evaluation (${FLAGS.toLocaleString('en')} flags, results rotating over them)\n`);
console.log(`${'case'.padEnd(52)} ${'ns/eval'.padStart(8)}   ${`scavenges per ${(REPEATS / 1e6).toFixed(0)}M`.padStart(18)}   ${'/metrics render'.padStart(16)}`);
for (const { name, make, pick } of cases) {
  const timed = make();
  const ns = await nsPerEvaluation(timed.record, pick);
  const counted = make();
  const gcs = await scavenges(counted.record, pick);
  const ms = await renderMs(counted.registry);
  console.log(`${name.padEnd(52)} ${ns.toFixed(1).padStart(8)}   ${String(gcs).padStart(18)}   ${`${ms.toFixed(2)} ms`.padStart(16)}`);
}
