import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The API process's Prometheus metrics, on a registry of its own (one per app, so two apps in one
 * process — tests, or an embedded deployment — never collide). Served at GET /metrics.
 */
export function createApiMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    evaluations: new Counter({
      name: 'flags_evaluations_total',
      help: 'Flag evaluations answered, by flag, reason and endpoint.',
      labelNames: ['flag', 'reason', 'endpoint'] as const,
      registers: [registry],
    }),
    evaluationSeconds: new Histogram({
      name: 'flags_evaluation_duration_seconds',
      help: 'Time to answer an evaluation request inside the process (routing to response body).',
      labelNames: ['endpoint'] as const,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
      registers: [registry],
    }),
    bulkCacheLookups: new Counter({
      name: 'flags_bulk_cache_lookups_total',
      help: 'Lookups of the bulk-evaluation result cache, by outcome (hit or miss).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    flags: new Gauge({
      name: 'flags_flags',
      help: 'Flags by state, as this process last counted them.',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    flagSetVersion: new Gauge({ name: 'flags_flag_set_version', help: 'Version (outbox id) of the compiled flag set this process evaluates.', registers: [registry] }),
    snapshotBytes: new Gauge({ name: 'flags_snapshot_bytes', help: 'Size of the current snapshot, uncompressed.', registers: [registry] }),
    snapshotAgeSeconds: new Gauge({ name: 'flags_snapshot_age_seconds', help: 'Seconds since the current snapshot was built.', registers: [registry] }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
