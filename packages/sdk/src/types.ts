/**
 * The SDK's public types. The flag model and the evaluation result are the engine's own (wire
 * names, camelCase), so a result from the SDK equals the HTTP API's for the same flag and context.
 */
import type { KeyObject } from 'node:crypto';
import type { EvaluationResult, Flag, Segment } from '@flagship/engine';

export type {
  EvaluationContext,
  EvaluationResult,
  Flag,
  FlagType,
  FlagValue,
  JsonObjectOrArray,
  JsonValue,
  Reason,
  Segment,
} from '@flagship/engine';

/**
 * Why an evaluation answered the caller's fallback (reason `error`). The strings are OpenFeature's
 * error codes, so the OpenFeature provider passes them through unchanged.
 */
export type EvaluationErrorCode = 'FLAG_NOT_FOUND' | 'TYPE_MISMATCH' | 'PROVIDER_NOT_READY' | 'GENERAL';

/**
 * An evaluation as the SDK answers it: the engine's result (shared and frozen: spread it to change
 * it), or the caller's fallback with reason `error`, an `errorCode` and a message.
 */
export interface Evaluation extends EvaluationResult {
  readonly errorCode?: EvaluationErrorCode;
  readonly errorMessage?: string;
}

/** `evaluateAll`: one result per flag found, in the snapshot's order or the order asked for. */
export interface BulkEvaluation {
  /** The version of the snapshot that answered; `null` before one is held. */
  snapshotVersion: number | null;
  results: EvaluationResult[];
  /** Keys asked for that the snapshot does not hold (missing or archived), or every key before a snapshot is held. */
  missing: string[];
  /** Set when nothing could be evaluated (no snapshot yet, or an unexpected failure). */
  errorCode?: EvaluationErrorCode;
}

/** The signed document `GET /v1/snapshot` serves. */
export interface SnapshotDocument {
  /** Outbox id of the newest flag, segment or killswitch change included: only ever goes up. */
  version: number;
  generatedAt: string;
  flags: Flag[];
  segments: Segment[];
  killswitches: string[];
}

/**
 * A snapshot saved for a start without a round trip: the exact bytes that were signed, as a
 * string, with their signature. `client.exportBootstrap()` and `fetchBootstrap()` write it.
 */
export interface BootstrapDocument {
  format: typeof BOOTSTRAP_FORMAT;
  /** The snapshot's ETag, so the first refresh can answer 304. */
  etag: string | null;
  /** Base64 Ed25519 signature over the UTF-8 bytes of `snapshot`. */
  signature: string;
  /** The snapshot body exactly as served. */
  snapshot: string;
}

export const BOOTSTRAP_FORMAT = 'flags-snapshot-bootstrap/1';

/**
 * Where a bootstrap snapshot comes from: the text of a bootstrap document, a file holding one, or
 * the raw body and its `X-Flags-Signature` header (say, saved by `curl -D`).
 */
export type BootstrapSource = string | { path: string } | { snapshot: string | Uint8Array; signature: string; etag?: string | null };

export interface ExposureOptions {
  /** Share of identities reported, 0–1 (default 1). Sampling is by identity: a user is always or never in. */
  sampleRate?: number;
  /** How often queued exposures are sent (default 10 s); a full batch is sent at once. */
  flushIntervalMs?: number;
  /** Exposures per request, at most 1,000 (the service's limit; default 500). */
  maxBatchSize?: number;
  /** Exposures held while the service is unreachable; past it new ones are dropped and counted (default 10,000). */
  maxQueueSize?: number;
  /**
   * The same flag, version, outcome and identity is reported once per window (default 5 minutes;
   * 0 reports every evaluation). Kept in an LRU of `dedupeCacheSize` entries (default 10,000).
   */
  dedupeWindowMs?: number;
  dedupeCacheSize?: number;
  /**
   * When set, identities are sent as HMAC-SHA256(key, identity) in hex instead of as given:
   * pseudonymous, and still joinable by whoever holds the key.
   */
  identityHashKey?: string;
}

export interface TrackingOptions {
  /** How often queued events are sent (default 10 s); a full batch is sent at once. */
  flushIntervalMs?: number;
  /** Events per request, at most 1,000 (the service's limit; default 500). */
  maxBatchSize?: number;
  /** Events held while the service is unreachable; past it new ones are dropped and counted (default 10,000). */
  maxQueueSize?: number;
}

/** One `track()` call as sent to `POST /v1/tracking-events`. */
export interface TrackingRecord {
  eventName: string;
  userId?: string;
  projectId?: string;
  value?: number;
  attributes?: Record<string, string | number | boolean>;
  at: string;
}

export interface StreamOptions {
  /**
   * A token that may read the stream. `GET /v1/events` needs `feature_flag:manage`, which the
   * evaluation token should not have; without one the client's token is tried, and a 401/403
   * turns streaming off (polling goes on).
   */
  token?: string;
  /** The stream's path (default `/v1/events`). */
  path?: string;
}

export interface SdkLogger {
  warn(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
}

export interface ClientOptions {
  /** Base URL of the flag service, e.g. `https://flags.internal`. */
  url: string;
  /** A token with `feature_flag:evaluate`. */
  token: string;
  /**
   * The Ed25519 public key that signs snapshots (SPKI PEM, as `GET /v1/snapshot/public-key` serves
   * it), configured out of band: a key fetched from the same service would prove nothing.
   */
  publicKey: string | KeyObject;
  /** How often the snapshot is re-checked with If-None-Match (default 30 s; 0: never, bootstrap/manual refresh only). */
  refreshIntervalMs?: number;
  /** A snapshot to start from without a round trip; verified like any other. */
  bootstrap?: BootstrapSource;
  /** Follow the change stream (SSE) and refetch at once on a flag, segment or killswitch change. Off by default. */
  stream?: boolean | StreamOptions;
  /** Report `flag.exposure` events to the service. Off by default. */
  exposures?: boolean | ExposureOptions;
  /** Send OpenFeature `track()` calls to the service (`tracking.events` in the outbox). Off by default. */
  tracking?: boolean | TrackingOptions;
  /** Per-request time limit (default 10 s). */
  requestTimeoutMs?: number;
  /** No network at all: evaluate the bootstrap only (tests, air-gapped tools). */
  offline?: boolean;
  /** Where warnings go (default `console`); `null` for silence. */
  logger?: SdkLogger | null;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
}

export type ClientStatus = 'initializing' | 'ready' | 'stale' | 'failed' | 'closed';

export type SdkErrorCode =
  | 'network'
  | 'http'
  | 'unauthorized'
  | 'signature'
  | 'older_snapshot'
  | 'malformed'
  | 'bootstrap'
  | 'stream'
  | 'not_ready';

export interface SdkErrorInfo {
  code: SdkErrorCode;
  message: string;
  /** Epoch milliseconds. */
  at: number;
  /** The HTTP status, for `http` and `unauthorized`. */
  status?: number;
}

export interface ClientState {
  /**
   * `initializing` before the first answer; `ready` with a snapshot the service confirmed at the
   * last refresh; `stale` with a snapshot but the last refresh failed (see `staleSince`,
   * `lastError`); `failed` with no snapshot (evaluations answer fallbacks, loading goes on); `closed`.
   */
  status: ClientStatus;
  /** A snapshot is held: evaluations answer from it. */
  hasSnapshot: boolean;
  snapshotVersion: number | null;
  etag: string | null;
  generatedAt: string | null;
  source: 'bootstrap' | 'network' | null;
  flagCount: number;
  /** Epoch ms when the held snapshot was installed. */
  updatedAt: number | null;
  /** Epoch ms of the last refresh the service answered (200 or 304). */
  lastSuccessAt: number | null;
  /** Epoch ms of the first failed refresh since the last success; `null` when current. */
  staleSince: number | null;
  lastError: SdkErrorInfo | null;
  consecutiveFailures: number;
  /** The change stream is connected. */
  streaming: boolean;
  /** The last failure of the change stream (it does not make the snapshot stale: polling covers it). */
  streamError: SdkErrorInfo | null;
  /** Flags in the snapshot that this SDK could not compile (a newer service's feature); they answer `GENERAL` errors. */
  unsupportedFlags: string[];
  exposures: ExposureStats | null;
}

export interface ExposureStats {
  queued: number;
  sent: number;
  /** Dropped because the queue was full (service unreachable for long). */
  dropped: number;
  /** Refused by the service (4xx): not retried. */
  rejected: number;
  /** Not queued because the same exposure was reported within the dedupe window. */
  deduplicated: number;
  /** Not queued because the identity was sampled out. */
  sampledOut: number;
}

export interface SnapshotChange {
  version: number;
  previousVersion: number | null;
  source: 'bootstrap' | 'network';
  /** Keys whose answer may have changed: flags added, removed or changed, and flags using a changed segment or killswitch. */
  flagsChanged: string[];
}

export interface ClientEvents {
  /** A new snapshot was installed. */
  change: SnapshotChange;
  /** The first snapshot is held (also after a failed start). */
  ready: ClientState;
  /** A refresh failed while a snapshot is held: answers keep coming from it. */
  stale: ClientState;
  /** A refresh succeeded after the client was stale. */
  recovered: ClientState;
  error: SdkErrorInfo;
}

/** An exposure as sent to `POST /v1/exposures`: the identity only, never the rest of the context. */
export interface ExposureRecord {
  flagKey: string;
  flagVersion: number;
  reason: Exclude<EvaluationResult['reason'], 'error'>;
  variant?: string;
  /** Scalar values only; a json flag's exposure names its variant. */
  value?: boolean | number | string;
  ruleId?: string;
  inRollout?: boolean;
  /** `userId`, else `targetingKey` (possibly HMAC'd, see `identityHashKey`). */
  userId?: string;
  projectId?: string;
  /** ISO 8601. */
  at: string;
}
