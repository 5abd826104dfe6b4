import type { EvaluationContext, TrackingOptions, TrackingRecord } from './types.ts';

/** The service's limit per request (`POST /v1/tracking-events`). */
const MAX_TRACKING_BATCH = 1_000;
const MAX_ATTRIBUTES = 20;

export interface TrackingTransport {
  /** Resolves `sent`, `retry` (network, 5xx: keep the batch) or `rejected` (4xx: drop it). */
  send(batch: TrackingRecord[]): Promise<'sent' | 'retry' | 'rejected'>;
}

export interface TrackingReporter {
  track(eventName: string, context: EvaluationContext, details?: Record<string, unknown>): void;
  flush(): Promise<void>;
  /** Events sent, dropped (queue full or refused) and waiting. */
  stats(): { sent: number; dropped: number; queued: number };
  close(): Promise<void>;
}

/**
 * OpenFeature's `track()` onto the service's ingestion endpoint: queued (bounded: past
 * `maxQueueSize` new events are dropped and counted, as while the service is down), sent in
 * batches every `flushIntervalMs` or as soon as a batch is full. Only the identity and the details'
 * scalars leave the process, never the rest of the context.
 */
export function createTrackingReporter(options: TrackingOptions, transport: TrackingTransport): TrackingReporter {
  const flushIntervalMs = Math.max(100, options.flushIntervalMs ?? 10_000);
  const maxBatchSize = Math.max(1, Math.min(MAX_TRACKING_BATCH, Math.floor(options.maxBatchSize ?? 500)));
  const maxQueueSize = Math.max(maxBatchSize, Math.floor(options.maxQueueSize ?? 10_000));
  let queue: TrackingRecord[] = [];
  let sent = 0;
  let dropped = 0;
  let sending: Promise<void> | undefined;
  const timer = setInterval(() => void flush(), flushIntervalMs);
  timer.unref();

  const flush = async (): Promise<void> => {
    while (sending) await sending;
    if (queue.length === 0) return;
    const batch = queue.slice(0, maxBatchSize);
    sending = (async () => {
      const outcome = await transport.send(batch);
      if (outcome === 'retry') return;
      queue = queue.slice(batch.length);
      if (outcome === 'sent') sent += batch.length;
      else dropped += batch.length;
    })().finally(() => {
      sending = undefined;
    });
    await sending;
  };

  return {
    track(eventName, context, details) {
      if (queue.length >= maxQueueSize) {
        dropped += 1;
        return;
      }
      queue.push(toRecord(eventName, context, details));
      if (queue.length >= maxBatchSize) void flush();
    },
    flush,
    stats: () => ({ sent, dropped, queued: queue.length }),
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

function toRecord(eventName: string, context: EvaluationContext, details: Record<string, unknown> | undefined): TrackingRecord {
  const identity = context.userId ?? context.targetingKey;
  const record: TrackingRecord = { eventName, at: new Date().toISOString() };
  if (typeof identity === 'string' && identity !== '') record.userId = identity.slice(0, 256);
  if (typeof context.projectId === 'string' && context.projectId !== '') record.projectId = context.projectId.slice(0, 256);
  if (details) {
    if (typeof details.value === 'number' && Number.isFinite(details.value)) record.value = details.value;
    const attributes: Record<string, string | number | boolean> = {};
    let count = 0;
    for (const [name, value] of Object.entries(details)) {
      if (name === 'value' || count >= MAX_ATTRIBUTES || !/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) continue;
      if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) attributes[name] = value;
      else if (typeof value === 'string') attributes[name] = value.slice(0, 256);
      else continue;
      count += 1;
    }
    if (count > 0) record.attributes = attributes;
  }
  return record;
}
