import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { EvaluationMetrics } from './evaluation-metrics.ts';
import { HttpMetrics } from './http-metrics.ts';

/** The in-process caches whose lookups are counted. */
export type CacheName = 'bulk' | 'ofrep_bulk' | 'snapshot_etag';

/**
 * The API process's Prometheus metrics, on a registry of its own (one per app, so two apps in one
 * process — tests, or an embedded deployment — never collide). Served at GET /metrics. What
 * docs/operations.md's dashboards and alerts read; every label set is bounded (no flag keys except
 * those tagged for it, see evaluation-metrics.ts).
 */
export function createApiMetrics(options: { defaultMetrics?: boolean; onPerFlagLimit?: (flags: string[]) => void } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const cacheLookups = new Counter({
    name: 'flags_cache_lookups_total',
    help: 'Lookups of the in-process answer caches (bulk results, OFREP bulk answers, snapshot ETags sent by clients), by outcome.',
    labelNames: ['cache', 'outcome'] as const,
    registers: [registry],
  });
  return {
    registry,
    evaluations: new EvaluationMetrics(registry, { onOverLimit: options.onPerFlagLimit }),
    http: new HttpMetrics(registry),
    cacheLookups,
    /** Counts one lookup of `cache`: called once per request, never per flag. */
    countCacheLookup(cache: CacheName, hit: boolean): void {
      cacheLookups.inc({ cache, outcome: hit ? 'hit' : 'miss' });
    },
    flags: new Gauge({
      name: 'flags_flags',
      help: 'Flags by state, as this process last counted them.',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    flagSetVersion: new Gauge({ name: 'flags_flag_set_version', help: 'Version (outbox id) of the compiled flag set this process evaluates.', registers: [registry] }),
    flagSetCompileSeconds: new Histogram({
      name: 'flags_flag_set_compile_duration_seconds',
      help: 'Time to compile the flag set: all of it (kind="full", at start and after a long absence) or one change (kind="change": a flag, a segment and the flags using it, killswitches).',
      labelNames: ['kind'] as const,
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    recompiledFlags: new Counter({
      name: 'flags_flag_set_recompiled_flags_total',
      help: 'Flags compiled again because of a change: one for a flag change, every flag using a segment for a segment change, all of them for a full reload. A burst is a mass invalidation.',
      registers: [registry],
    }),
    exposures: new Counter({ name: 'flags_exposures_total', help: 'Exposure events accepted from SDKs (POST /v1/exposures).', registers: [registry] }),
    flagSetStale: new Gauge({ name: 'flags_flag_set_stale', help: '1 while the flag set may be behind the database (it cannot be compared with it, or came from a snapshot), else 0.', registers: [registry] }),
    flagSetSecondsSinceConfirmed: new Gauge({ name: 'flags_flag_set_seconds_since_confirmed', help: 'Seconds since the flag set was last confirmed current against the database.', registers: [registry] }),
    eventStreams: new Gauge({ name: 'flags_event_streams', help: 'Open /v1/events streams on this process.', registers: [registry] }),
    eventStreamOutboxReads: new Counter({ name: 'flags_event_stream_outbox_reads_total', help: 'Outbox queries made for event streams (one shared reader, plus catch-up pages of streams resuming from long ago).', registers: [registry] }),
    databaseUp: new Gauge({ name: 'flags_database_up', help: '1 while this process reaches PostgreSQL, 0 during an outage it noticed.', registers: [registry] }),
    snapshotBytes: new Gauge({ name: 'flags_snapshot_bytes', help: 'Size of the current snapshot, uncompressed.', registers: [registry] }),
    snapshotAgeSeconds: new Gauge({ name: 'flags_snapshot_age_seconds', help: 'Seconds since the current snapshot was built.', registers: [registry] }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
