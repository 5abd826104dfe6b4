import { Counter, Histogram, register, type Registry } from 'prom-client';

/**
 * The worker's rollout metrics, on prom-client's default registry (a process serving /metrics
 * from it shows them; the embedded launcher runs the worker in the API's process). Metrics are
 * created once per process and shared by every `createActivities` call: prom-client refuses a
 * second metric of the same name on one registry.
 */
export interface RolloutMetrics {
  /**
   * Steps by outcome: applied, already_applied (a retry), held_<cause>, gate_failed. Not by flag: over
   * a worker's life that label would grow with every flag ever rolled out; the rollouts in progress
   * are in the worker's status metrics (worker-status-metrics.ts), by flag.
   */
  steps: Counter<'outcome'>;
  /** How late a step landed after its target time, in seconds. */
  stepDelay: Histogram<never>;
}

let shared: RolloutMetrics | undefined;

export function rolloutMetrics(registry: Registry = register): RolloutMetrics {
  if (shared && registry === register) return shared;
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const metrics: RolloutMetrics = {
    steps:
      existing<Counter<'outcome'>>('flags_rollout_steps_total') ??
      new Counter({ name: 'flags_rollout_steps_total', help: 'Rollout steps by outcome (applied, already_applied, held_<cause>, gate_failed).', labelNames: ['outcome'], registers: [registry] }),
    stepDelay:
      existing<Histogram<never>>('flags_rollout_step_delay_seconds') ??
      new Histogram({
        name: 'flags_rollout_step_delay_seconds',
        help: 'How late a rollout step was applied after its target time.',
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
        registers: [registry],
      }),
  };
  if (registry === register) shared = metrics;
  return metrics;
}
