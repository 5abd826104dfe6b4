import { createHmac } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { bucketFor, BUCKETS, type EvaluationContext, type EvaluationResult } from '@flagship/engine';
import type { ExposureOptions, ExposureRecord, ExposureStats } from './types.ts';

/** The service's limit per request (`POST /v1/exposures`). */
export const MAX_EXPOSURE_BATCH = 1_000;
/** Longer scalar values are left out of an exposure (the variant or version still identifies what was served). */
const MAX_VALUE_CHARS = 256;
const MAX_IDENTITY_CHARS = 256;

export interface ExposureTransport {
  /** Resolves `sent`, `retry` (network, 5xx: keep the batch) or `rejected` (4xx: drop it). */
  send(batch: ExposureRecord[]): Promise<'sent' | 'retry' | 'rejected'>;
}

export interface ExposureReporter {
  record(result: EvaluationResult, context: EvaluationContext): void;
  flush(): Promise<void>;
  stats(): ExposureStats;
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/**
 * Batches, deduplicates and samples exposures, and sends them off the hot path. Memory is bounded
 * twice: the queue by `maxQueueSize` (new exposures are dropped and counted while it is full, e.g.
 * while the service is down) and the dedupe cache by `dedupeCacheSize`.
 *
 * Only the identity leaves the process (`userId` or `targetingKey`, and `projectId`), never the other
 * attributes of the context: they are the caller's user data, and analytics joins on the identity.
 */
export function createExposureReporter(options: ExposureOptions, transport: ExposureTransport, onError: (message: string) => void): ExposureReporter {
  const sampleRate = clamp(options.sampleRate ?? 1, 0, 1);
  const sampleThreshold = Math.round(sampleRate * BUCKETS);
  const flushIntervalMs = Math.max(100, options.flushIntervalMs ?? 10_000);
  const maxBatchSize = Math.max(1, Math.min(MAX_EXPOSURE_BATCH, Math.floor(options.maxBatchSize ?? 500)));
  const maxQueueSize = Math.max(maxBatchSize, Math.floor(options.maxQueueSize ?? 10_000));
  const dedupeWindowMs = options.dedupeWindowMs ?? 5 * 60_000;
  const seen = dedupeWindowMs > 0 ? new LRUCache<string, true>({ max: Math.max(1, options.dedupeCacheSize ?? 10_000), ttl: dedupeWindowMs, ttlAutopurge: false }) : null;
  const hashKey = options.identityHashKey;
  const hashed = hashKey ? new LRUCache<string, string>({ max: 10_000 }) : null;

  // The engine hands out one shared result object per outcome of a flag version, so an outcome's
  // id is looked up once per object. The id names the outcome (flag, version, value, variant,
  // reason, rule), not the object, so a new snapshot (new objects) does not restart every window.
  const idsByObject = new WeakMap<EvaluationResult, number>();
  const idsByOutcome = new Map<string, number>();
  const outcomeId = (result: EvaluationResult): number => {
    let id = idsByObject.get(result);
    if (id === undefined) {
      const outcome = `${result.flagKey}\u0000${result.flagVersion}\u0000${result.variant ?? ''}\u0000${result.reason}\u0000${result.ruleId ?? ''}\u0000${typeof result.value === 'object' ? '' : String(result.value)}`;
      id = idsByOutcome.get(outcome);
      if (id === undefined) {
        // Outcomes are few (flags × their outcomes × versions seen); the bound only guards a process that runs for months.
        if (idsByOutcome.size >= 100_000) idsByOutcome.clear();
        id = nextOutcomeId++;
        idsByOutcome.set(outcome, id);
      }
      idsByObject.set(result, id);
    }
    return id;
  };
  let nextOutcomeId = 0;
  const queue: ExposureRecord[] = [];
  const stats: ExposureStats = { queued: 0, sent: 0, dropped: 0, rejected: 0, deduplicated: 0, sampledOut: 0 };
  let flushing: Promise<void> | undefined;
  let backoffUntil = 0;
  let failures = 0;
  let closed = false;
  const timer = setInterval(() => void flush(), flushIntervalMs);
  timer.unref?.();

  const pseudonym = (identity: string): string => {
    if (!hashKey || !hashed) return identity;
    let value = hashed.get(identity);
    if (value === undefined) {
      value = createHmac('sha256', hashKey).update(identity).digest('hex');
      hashed.set(identity, value);
    }
    return value;
  };

  function record(result: EvaluationResult, context: EvaluationContext): void {
    if (closed || result.reason === 'error') return;
    const userId = identityOf(context.userId) ?? identityOf(context.targetingKey);
    const projectId = identityOf(context.projectId);
    const identity = userId ?? projectId;
    if (sampleThreshold < BUCKETS) {
      // By identity, so a sampled user's exposures are all reported; without one, by chance.
      const sampled = identity === undefined ? Math.random() * BUCKETS < sampleThreshold : bucketFor('exposure-sample', identity) < sampleThreshold;
      if (!sampled) {
        stats.sampledOut += 1;
        return;
      }
    }
    if (seen !== null) {
      const key = `${outcomeId(result)}\u0000${userId ?? ''}\u0000${projectId ?? ''}`;
      if (seen.has(key)) {
        stats.deduplicated += 1;
        return;
      }
      seen.set(key, true);
    }
    if (queue.length >= maxQueueSize) {
      stats.dropped += 1;
      return;
    }
    const exposure: ExposureRecord = { flagKey: result.flagKey, flagVersion: result.flagVersion, reason: result.reason, at: new Date().toISOString() };
    if (result.variant !== null) exposure.variant = result.variant;
    if (typeof result.value !== 'object' && (typeof result.value !== 'string' || result.value.length <= MAX_VALUE_CHARS)) exposure.value = result.value;
    if (result.ruleId !== undefined) exposure.ruleId = result.ruleId;
    if (result.inRollout !== undefined) exposure.inRollout = result.inRollout;
    if (userId !== undefined) exposure.userId = pseudonym(userId);
    if (projectId !== undefined) exposure.projectId = pseudonym(projectId);
    queue.push(exposure);
    stats.queued = queue.length;
    if (queue.length >= maxBatchSize && Date.now() >= backoffUntil) setImmediate(() => void flush());
  }

  function flush(): Promise<void> {
    if (flushing) return flushing;
    const running = (async () => {
      // Never finishes synchronously, so `flushing` is assigned before the finally clears it.
      await undefined;
      try {
        while (queue.length > 0 && Date.now() >= backoffUntil) {
          const batch = queue.slice(0, maxBatchSize);
          let outcome: 'sent' | 'retry' | 'rejected';
          try {
            outcome = await transport.send(batch);
          } catch (error) {
            onError(`sending exposures failed: ${(error as Error).message}`);
            outcome = 'retry';
          }
          if (outcome === 'retry') {
            failures += 1;
            backoffUntil = Date.now() + Math.min(60_000, 1_000 * 2 ** (failures - 1));
            break;
          }
          failures = 0;
          backoffUntil = 0;
          queue.splice(0, batch.length);
          if (outcome === 'sent') stats.sent += batch.length;
          else stats.rejected += batch.length;
        }
      } finally {
        stats.queued = queue.length;
        flushing = undefined;
      }
    })();
    flushing = running;
    return running;
  }

  return {
    record,
    /** Sends now, ignoring any backoff; waits for a send already under way first. */
    async flush() {
      if (flushing) await flushing;
      backoffUntil = 0;
      await flush();
    },
    stats: () => ({ ...stats, queued: queue.length }),
    async close(closeOptions = {}) {
      if (closed) return;
      clearInterval(timer);
      closed = true;
      const last = (async () => {
        if (flushing) await flushing;
        backoffUntil = 0;
        await flush();
      })();
      await Promise.race([last, new Promise((resolve) => setTimeout(resolve, closeOptions.timeoutMs ?? 2_000).unref?.())]);
    },
  };
}

function identityOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 && value.length <= MAX_IDENTITY_CHARS ? value : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function clamp(value: number, min: number, max: number): number {
  return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : max;
}
