import type { KeyObject } from 'node:crypto';
import { evaluate as evaluateFlag, evaluateAll as evaluateFlags, type EvaluationContext, type EvaluationResult, type FlagValue, type JsonObjectOrArray } from '@flagship/engine';
import { changedFlagKeys, compileSnapshot, type CompiledSnapshot } from './compile-snapshot.ts';
import { followEventStream, type EventStream } from './event-stream.ts';
import { createExposureReporter, type ExposureReporter } from './exposure-reporter.ts';
import { createTrackingReporter, type TrackingReporter } from './tracking-reporter.ts';
import type {
  BulkEvaluation,
  ClientEvents,
  ClientOptions,
  ClientState,
  ClientStatus,
  Evaluation,
  EvaluationErrorCode,
  ExposureRecord,
  SdkErrorCode,
  SdkErrorInfo,
  SdkLogger,
  SnapshotDocument,
} from './types.ts';
import { bootstrapDocument, loadPublicKey, readBootstrap, SnapshotError, verifySnapshot, type VerifiedSnapshot } from './verify-snapshot.ts';

const DEFAULT_REFRESH_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 10_000;
/** First retry of a start without a snapshot; doubles up to the refresh interval. */
const FIRST_RETRY_MS = 1_000;
/** After a stream event, how long to keep asking for a snapshot that includes it (another API process may be a moment behind). */
const CATCH_UP_DELAYS_MS = [100, 200, 400, 800, 1_600];
/** How long a stream event waits for others before the refetch. */
const STREAM_DEBOUNCE_MS = 50;
/** Event families that change answers; `flag.exposure` is analytics and is ignored. */
const STREAM_TYPES = 'flag.*,segment.*,killswitch.*';

interface HeldSnapshot {
  document: SnapshotDocument;
  compiled: CompiledSnapshot;
  verified: VerifiedSnapshot;
  source: 'bootstrap' | 'network';
  installedAt: number;
}

type Listener<E extends keyof ClientEvents> = (payload: ClientEvents[E]) => void;

/**
 * Creates a client that evaluates flags locally from the service's signed snapshot. It starts
 * loading at once (from `bootstrap` synchronously, when given, then from the network); evaluations
 * before a snapshot is held answer the caller's fallback with reason `error`.
 */
export function createClient(options: ClientOptions): FlagsClient {
  return new FlagsClient(options);
}

/**
 * The SDK's client. Evaluation (`evaluate`, `isEnabled`, `getString`, `getNumber`, `getJson`,
 * `evaluateAll`) never throws and never waits: it reads the compiled snapshot in memory.
 */
export class FlagsClient {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #publicKey: KeyObject;
  readonly #refreshIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #offline: boolean;
  readonly #fetch: typeof fetch;
  readonly #logger: SdkLogger | null;
  readonly #listeners = new Map<keyof ClientEvents, Set<(payload: never) => void>>();
  readonly #readyWaiters = new Set<() => void>();
  #held: HeldSnapshot | null = null;
  #exposures: ExposureReporter | null = null;
  #tracking: TrackingReporter | null = null;
  #stream: EventStream | undefined;
  #streaming = false;
  #streamError: SdkErrorInfo | null = null;
  #closed = false;
  #attempted = false;
  #lastSuccessAt: number | null = null;
  #staleSince: number | null = null;
  #lastError: SdkErrorInfo | null = null;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;
  /** The newest change announced on the stream; a snapshot older than it is not the latest yet. */
  #wantVersion = 0;
  #catchUpAttempt = 0;
  #streamTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: ClientOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('createClient needs an options object');
    if (!options.offline) {
      if (typeof options.url !== 'string' || !/^https?:\/\//.test(options.url)) throw new TypeError('createClient: url must be an http(s) URL');
      if (typeof options.token !== 'string' || options.token === '') throw new TypeError('createClient: token is required');
    }
    this.#baseUrl = (options.url ?? '').replace(/\/+$/, '');
    this.#token = options.token ?? '';
    this.#publicKey = loadPublicKey(options.publicKey);
    this.#refreshIntervalMs = Math.max(0, options.refreshIntervalMs ?? DEFAULT_REFRESH_MS);
    this.#timeoutMs = Math.max(1, options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#offline = options.offline ?? false;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#logger = options.logger === undefined ? consoleLogger : options.logger;

    if (options.bootstrap !== undefined) this.#loadBootstrap(options.bootstrap);
    if (this.#offline) return;
    if (options.exposures) {
      const exposureOptions = options.exposures === true ? {} : options.exposures;
      this.#exposures = createExposureReporter(exposureOptions, { send: (batch) => this.#sendExposures(batch) }, (message) => this.#logger?.warn(message));
    }
    if (options.tracking) {
      this.#tracking = createTrackingReporter(options.tracking === true ? {} : options.tracking, { send: (batch) => this.#sendBatch('/v1/tracking-events', 'tracking events', { events: batch }, batch.length) });
    }
    void this.refresh();
    if (options.stream) this.#startStream(options.stream === true ? {} : options.stream);
  }

  // ───────────────────────────── evaluation (never throws) ─────────────────────────────

  /**
   * Evaluates one flag. Answers the engine's result, or `fallback` with reason `error` and an
   * `errorCode`: `FLAG_NOT_FOUND` (missing or archived), `TYPE_MISMATCH` (the flag serves another
   * type than `fallback`'s), `PROVIDER_NOT_READY` (no snapshot yet) or `GENERAL`.
   */
  evaluate(flagKey: string, context: EvaluationContext, fallback: FlagValue): Evaluation {
    let result: EvaluationResult | undefined;
    const held = this.#held;
    try {
      if (held === null) return failure(flagKey, fallback, 'PROVIDER_NOT_READY', 'no snapshot has been loaded yet', 0);
      result = evaluateFlag(held.compiled.set, flagKey, context);
      if (result === undefined) {
        return held.compiled.unsupported.has(flagKey)
          ? failure(flagKey, fallback, 'GENERAL', `flag "${flagKey}" uses a feature this SDK version cannot evaluate`, 0)
          : failure(flagKey, fallback, 'FLAG_NOT_FOUND', `flag "${flagKey}" does not exist or is archived`, 0);
      }
      if (fallback !== undefined && fallback !== null && typeof result.value !== typeof fallback) {
        return failure(flagKey, fallback, 'TYPE_MISMATCH', `flag "${flagKey}" serves a ${describeType(result.value)}, the fallback is a ${describeType(fallback)}`, result.flagVersion);
      }
    } catch (error) {
      return failure(flagKey, fallback, 'GENERAL', `evaluating "${flagKey}" failed: ${(error as Error)?.message ?? String(error)}`, result?.flagVersion ?? 0);
    }
    if (this.#exposures !== null) {
      try {
        this.#exposures.record(result, context);
      } catch {
        // Analytics never changes an answer.
      }
    }
    return result;
  }

  /** A boolean flag's value, or `fallback` (default `false`) on any error. */
  isEnabled(flagKey: string, context: EvaluationContext = {}, fallback = false): boolean {
    return this.evaluate(flagKey, context, fallback).value as boolean;
  }

  getString(flagKey: string, context: EvaluationContext, fallback: string): string {
    return this.evaluate(flagKey, context, fallback).value as string;
  }

  getNumber(flagKey: string, context: EvaluationContext, fallback: number): number {
    return this.evaluate(flagKey, context, fallback).value as number;
  }

  /** A json flag's value (shared with other callers: do not mutate it), or `fallback`. */
  getJson<T extends JsonObjectOrArray>(flagKey: string, context: EvaluationContext, fallback: T): T {
    return this.evaluate(flagKey, context, fallback).value as T;
  }

  /**
   * Evaluates every flag of the snapshot (or the keys given, in their order) for one context, as
   * `POST /v1/evaluate/bulk` does. Records no exposures: bulk answers are typically handed on
   * (to a browser, a cache) rather than acted on.
   */
  evaluateAll(context: EvaluationContext, flagKeys?: readonly string[]): BulkEvaluation {
    const held = this.#held;
    if (held === null) return { snapshotVersion: null, results: [], missing: flagKeys ? [...flagKeys] : [], errorCode: 'PROVIDER_NOT_READY' };
    try {
      const set = held.compiled.set;
      const results = evaluateFlags(set, context, flagKeys);
      const missing = flagKeys ? flagKeys.filter((key) => !set.has(key)) : [];
      return { snapshotVersion: held.document.version, results, missing };
    } catch {
      return { snapshotVersion: held.document.version, results: [], missing: flagKeys ? [...flagKeys] : [], errorCode: 'GENERAL' };
    }
  }

  // ───────────────────────────── state ─────────────────────────────

  get status(): ClientStatus {
    if (this.#closed) return 'closed';
    if (this.#held === null) return this.#attempted || this.#offline ? 'failed' : 'initializing';
    return this.#staleSince === null ? 'ready' : 'stale';
  }

  state(): ClientState {
    const held = this.#held;
    return {
      status: this.status,
      hasSnapshot: held !== null,
      snapshotVersion: held?.document.version ?? null,
      etag: held?.verified.etag ?? null,
      generatedAt: held?.document.generatedAt ?? null,
      source: held?.source ?? null,
      flagCount: held?.compiled.set.size ?? 0,
      updatedAt: held?.installedAt ?? null,
      lastSuccessAt: this.#lastSuccessAt,
      staleSince: this.#staleSince,
      lastError: this.#lastError,
      consecutiveFailures: this.#failures,
      streaming: this.#streaming,
      streamError: this.#streamError,
      unsupportedFlags: held ? [...held.compiled.unsupported] : [],
      exposures: this.#exposures?.stats() ?? null,
    };
  }

  /**
   * Resolves once a snapshot is held (at once after a good bootstrap); rejects after `timeoutMs`
   * (default 10 s) with the last error, while loading goes on in the background.
   */
  waitUntilReady(options: { timeoutMs?: number } = {}): Promise<ClientState> {
    if (this.#held !== null) return Promise.resolve(this.state());
    if (this.#offline || this.#closed) return Promise.reject(notReadyError(this.#lastError, this.#offline ? 'offline without a usable bootstrap' : 'the client is closed'));
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#readyWaiters.delete(done);
        resolve(this.state());
      };
      const timer = setTimeout(() => {
        this.#readyWaiters.delete(done);
        reject(notReadyError(this.#lastError, `no snapshot within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#readyWaiters.add(done);
    });
  }

  /** Subscribes to `change`, `ready`, `stale`, `recovered` or `error`; returns the unsubscribe function. */
  on<E extends keyof ClientEvents>(event: E, listener: Listener<E>): () => void {
    let listeners = this.#listeners.get(event);
    if (!listeners) this.#listeners.set(event, (listeners = new Set()));
    listeners.add(listener as (payload: never) => void);
    return () => listeners.delete(listener as (payload: never) => void);
  }

  /** The held snapshot as a bootstrap document (text), to start another process without a round trip. */
  exportBootstrap(): string | undefined {
    return this.#held ? bootstrapDocument(this.#held.verified) : undefined;
  }

  /**
   * Records a user action for analytics (OpenFeature's tracking API): sent in batches to the
   * service when `tracking` is on, otherwise ignored. Never throws, never waits.
   */
  track(eventName: string, context: EvaluationContext, details?: Record<string, unknown>): void {
    try {
      this.#tracking?.track(eventName, context, details);
    } catch {
      // Analytics never breaks the caller.
    }
  }

  /** Sends queued tracking events now; what was sent, dropped and is still queued. */
  async flushTracking(): Promise<{ sent: number; dropped: number; queued: number } | null> {
    await this.#tracking?.flush();
    return this.#tracking?.stats() ?? null;
  }

  /** Sends queued exposures now. */
  async flushExposures(): Promise<void> {
    await this.#exposures?.flush();
  }

  /** Stops polling and streaming, sends queued exposures (for up to 2 s). Evaluations keep answering from the held snapshot. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#streamTimer);
    this.#stream?.close();
    this.#streaming = false;
    for (const waiter of this.#readyWaiters) waiter();
    await Promise.all([this.#exposures?.close(), this.#tracking?.close()]);
  }

  // ───────────────────────────── loading ─────────────────────────────

  /**
   * Fetches the snapshot now (with If-None-Match); concurrent calls share one request. Never
   * rejects: the outcome is in the returned state.
   */
  async refresh(): Promise<ClientState> {
    if (this.#offline || this.#closed) return this.state();
    if (this.#refreshing) {
      this.#refreshAgain = true;
      await this.#refreshing;
      return this.state();
    }
    const running = (async () => {
      // Never finishes synchronously, so `#refreshing` is assigned before the finally clears it;
      // and it is cleared in the same tick the loop ends, so a later call never waits on a finished run.
      await undefined;
      try {
        do {
          this.#refreshAgain = false;
          await this.#refreshOnce();
        } while (this.#refreshAgain && !this.#closed);
      } finally {
        this.#refreshing = undefined;
        this.#scheduleNext();
      }
    })();
    this.#refreshing = running;
    await running;
    return this.state();
  }

  async #refreshOnce(): Promise<void> {
    let serverVersion: number | null = null;
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
      const etag = this.#held?.verified.etag;
      if (etag) headers['if-none-match'] = etag;
      const response = await this.#fetch(`${this.#baseUrl}/v1/snapshot`, { headers, signal: AbortSignal.timeout(this.#timeoutMs) });
      // Unsigned, so it is never installed: it only tells the catch-up whether the server has moved.
      const versionHeader = response.headers.get('x-flags-snapshot-version');
      serverVersion = versionHeader !== null && /^\d{1,15}$/.test(versionHeader) ? Number(versionHeader) : null;
      if (response.status === 304 && this.#held !== null) {
        this.#succeeded();
      } else if (response.status === 200) {
        const bytes = new Uint8Array(await response.arrayBuffer());
        const verified = verifySnapshot(bytes, response.headers.get('x-flags-signature'), response.headers.get('etag'), this.#publicKey);
        this.#install(verified, 'network');
        this.#succeeded();
      } else {
        await response.body?.cancel().catch(() => undefined);
        const code: SdkErrorCode = response.status === 401 || response.status === 403 ? 'unauthorized' : 'http';
        this.#failed(code, `GET /v1/snapshot answered HTTP ${response.status}${code === 'unauthorized' ? ' (the token needs feature_flag:evaluate)' : ''}`, response.status);
      }
    } catch (error) {
      if (error instanceof SnapshotError) this.#failed(error.code, error.message);
      else this.#failed('network', `GET /v1/snapshot failed: ${describeFetchError(error)}`);
    } finally {
      this.#attempted = true;
    }
    this.#checkCatchUp(serverVersion);
  }

  /** After a stream event: if neither the snapshot nor the server has reached it, ask again shortly. */
  #checkCatchUp(serverVersion: number | null): void {
    const held = this.#held?.document.version ?? 0;
    if (held >= this.#wantVersion || (serverVersion !== null && serverVersion >= this.#wantVersion)) {
      this.#catchUpAttempt = 0;
      return;
    }
    const delay = CATCH_UP_DELAYS_MS[this.#catchUpAttempt];
    if (delay === undefined) {
      // Given up until the next event; polling goes on.
      this.#catchUpAttempt = 0;
      this.#wantVersion = held;
      return;
    }
    this.#catchUpAttempt += 1;
    const timer = setTimeout(() => void this.refresh(), delay);
    timer.unref?.();
  }

  #scheduleNext(): void {
    clearTimeout(this.#timer);
    if (this.#closed || this.#offline) return;
    let delay: number;
    if (this.#held === null) {
      // No snapshot: retry sooner, backing off up to the interval.
      delay = Math.min(this.#refreshIntervalMs || 30_000, FIRST_RETRY_MS * 2 ** Math.min(10, Math.max(0, this.#failures - 1)));
    } else if (this.#refreshIntervalMs === 0) {
      return;
    } else {
      // ±10 % so that many processes started together do not poll together.
      delay = this.#refreshIntervalMs * (0.9 + Math.random() * 0.2);
    }
    this.#timer = setTimeout(() => void this.refresh(), delay);
    this.#timer.unref?.();
  }

  #loadBootstrap(source: NonNullable<ClientOptions['bootstrap']>): void {
    try {
      const { bytes, signature, etag } = readBootstrap(source);
      this.#install(verifySnapshot(bytes, signature, etag, this.#publicKey), 'bootstrap');
    } catch (error) {
      const code = error instanceof SnapshotError ? error.code : 'bootstrap';
      this.#recordError({ code, message: `bootstrap refused: ${(error as Error).message}`, at: Date.now() });
    }
  }

  /** Installs a verified snapshot unless it is older than the one held (a replay cannot roll the client back). */
  #install(verified: VerifiedSnapshot, source: 'bootstrap' | 'network'): void {
    const previous = this.#held;
    const document = verified.document;
    if (previous !== null) {
      if (document.version < previous.document.version) {
        throw new SnapshotError('older_snapshot', `refused snapshot version ${document.version}: older than the held version ${previous.document.version}`);
      }
      if (document.version === previous.document.version) {
        // Same version, other content: an API process that applied its own write before its
        // version caught up (it does within milliseconds). Content only ever changes with a newer
        // version here, so keep the held one and ask again shortly for the next version.
        if (verified.etag !== previous.verified.etag) this.#wantVersion = Math.max(this.#wantVersion, document.version + 1);
        return;
      }
    }
    const compiled = compileSnapshot(document);
    this.#held = { document, compiled, verified, source, installedAt: Date.now() };
    if (compiled.unsupported.size > 0) {
      this.#logger?.warn('some flags use features this SDK version cannot evaluate; they answer their fallback', { flags: [...compiled.unsupported] });
    }
    this.#emit('change', { version: document.version, previousVersion: previous?.document.version ?? null, source, flagsChanged: changedFlagKeys(previous?.document ?? null, document) });
    if (previous === null) {
      for (const waiter of [...this.#readyWaiters]) waiter();
      this.#emit('ready', this.state());
    }
  }

  #succeeded(): void {
    const wasStale = this.#staleSince !== null && this.#held !== null;
    this.#lastSuccessAt = Date.now();
    this.#staleSince = null;
    this.#failures = 0;
    if (wasStale) {
      this.#logger?.info?.('flag snapshot refresh recovered', { version: this.#held?.document.version });
      this.#emit('recovered', this.state());
    }
  }

  #failed(code: SdkErrorCode, message: string, status?: number): void {
    this.#failures += 1;
    const first = this.#staleSince === null;
    this.#staleSince ??= Date.now();
    const previousCode = this.#lastError?.code;
    this.#recordError({ code, message, at: Date.now(), ...(status === undefined ? {} : { status }) }, first || previousCode !== code);
    if (first && this.#held !== null) this.#emit('stale', this.state());
  }

  #recordError(error: SdkErrorInfo, log = true): void {
    this.#lastError = error;
    if (log) {
      this.#logger?.warn(this.#held ? `${error.message}; serving the last good snapshot (version ${this.#held.document.version})` : `${error.message}; flags answer their fallbacks until a snapshot loads`, { code: error.code });
    }
    this.#emit('error', error);
  }

  // ───────────────────────────── stream ─────────────────────────────

  #startStream(options: { token?: string; path?: string }): void {
    const url = `${this.#baseUrl}${options.path ?? '/v1/events'}?types=${encodeURIComponent(STREAM_TYPES)}`;
    this.#stream = followEventStream({
      url,
      token: options.token ?? this.#token,
      fetch: this.#fetch,
      onOpen: () => {
        this.#streaming = true;
        // Whatever changed while disconnected is not replayed: the snapshot covers it.
        void this.refresh();
      },
      onEvent: (event) => {
        if (event.event === 'flag.exposure') return;
        const id = Number(event.id);
        if (Number.isSafeInteger(id) && id > this.#wantVersion) this.#wantVersion = id;
        // A short debounce: one write can emit several events (a rollout step, a burst of edits),
        // and the API process answering needs a moment to move its snapshot to the new version.
        if (this.#streamTimer !== undefined) return;
        this.#streamTimer = setTimeout(() => {
          this.#streamTimer = undefined;
          void this.refresh();
        }, STREAM_DEBOUNCE_MS);
        this.#streamTimer.unref?.();
      },
      onError: (error) => {
        this.#streamError = { code: 'stream', message: error.message, at: Date.now(), ...(error.status === undefined ? {} : { status: error.status }) };
        if (error.fatal) this.#logger?.warn(error.message);
        this.#emit('error', this.#streamError);
      },
      onClose: () => {
        this.#streaming = false;
      },
    });
  }

  // ───────────────────────────── exposures ─────────────────────────────

  #sendExposures(batch: ExposureRecord[]): Promise<'sent' | 'retry' | 'rejected'> {
    return this.#sendBatch('/v1/exposures', 'exposures', { exposures: batch }, batch.length);
  }

  async #sendBatch(path: string, what: string, body: unknown, count: number): Promise<'sent' | 'retry' | 'rejected'> {
    let response: Response;
    try {
      response = await this.#fetch(`${this.#baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      this.#logger?.warn(`sending ${count} ${what} failed: ${describeFetchError(error)}; kept for a retry`);
      return 'retry';
    }
    const text = await response.text().catch(() => '');
    if (response.ok) return 'sent';
    if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
      this.#logger?.warn(`the service refused ${count} ${what} (HTTP ${response.status}); dropped`, { body: text.slice(0, 500) });
      return 'rejected';
    }
    return 'retry';
  }

  #emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    const listeners = this.#listeners.get(event);
    if (!listeners) return;
    for (const listener of [...listeners]) {
      try {
        (listener as Listener<E>)(payload);
      } catch (error) {
        this.#logger?.warn(`a "${event}" listener threw: ${(error as Error)?.message ?? String(error)}`);
      }
    }
  }
}

function failure(flagKey: string, fallback: FlagValue, errorCode: EvaluationErrorCode, errorMessage: string, flagVersion: number): Evaluation {
  return { flagKey, value: fallback, variant: null, reason: 'error', flagVersion, errorCode, errorMessage };
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'json array';
  return typeof value === 'object' ? 'json object' : typeof value;
}

function describeFetchError(error: unknown): string {
  const err = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timed out';
  return [err?.message ?? String(error), err?.cause?.code ?? err?.cause?.message].filter(Boolean).join(': ');
}

function notReadyError(lastError: SdkErrorInfo | null, reason: string): Error {
  return Object.assign(new Error(`the flag client is not ready: ${reason}${lastError ? ` (last error: ${lastError.message})` : ''}`), { code: 'not_ready' as const, lastError });
}

const consoleLogger: SdkLogger = {
  warn: (message, details) => console.warn(`[flags] ${message}`, ...(details ? [details] : [])),
  info: (message, details) => console.info(`[flags] ${message}`, ...(details ? [details] : [])),
};

/**
 * Downloads the current snapshot as a bootstrap document (text), verified when `publicKey` is
 * given: for baking into an image or a deploy artefact, so processes start without a round trip.
 */
export async function fetchBootstrap(options: { url: string; token: string; publicKey?: string | KeyObject; fetch?: typeof fetch; timeoutMs?: number }): Promise<string> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const response = await doFetch(`${options.url.replace(/\/+$/, '')}/v1/snapshot`, {
    headers: { authorization: `Bearer ${options.token}`, accept: 'application/json' },
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  });
  if (response.status !== 200) throw new Error(`GET /v1/snapshot answered HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const signature = response.headers.get('x-flags-signature') ?? '';
  const etag = response.headers.get('etag');
  if (options.publicKey !== undefined) verifySnapshot(bytes, signature, etag, loadPublicKey(options.publicKey));
  return bootstrapDocument({ bytes, signature, etag });
}
