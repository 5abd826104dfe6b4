import { Counter, register } from 'prom-client';

/**
 * What the write path refuses, counted where it is decided, on prom-client's process-wide registry:
 * an API process serves it merged into its /metrics, a worker (whose rollout steps and approved
 * changes write through the same path) on its metrics port. Created once per process.
 */
export const prerequisiteCycleRefusals =
  (register.getSingleMetric('flags_prerequisite_cycle_refusals_total') as Counter | undefined) ??
  new Counter({
    name: 'flags_prerequisite_cycle_refusals_total',
    help: 'Writes refused because they would close a prerequisite loop (API changes, rollout steps, approved changes).',
    registers: [register],
  });
