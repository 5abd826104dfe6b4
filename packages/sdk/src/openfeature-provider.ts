import {
  type ErrorCode,
  OpenFeatureEventEmitter,
  ProviderEvents,
  type EvaluationContext as OpenFeatureContext,
  type FlagMetadata,
  type JsonValue as OpenFeatureJsonValue,
  type Provider,
  type ResolutionDetails,
  type TrackingEventDetails,
} from '@openfeature/server-sdk';
import { OPENFEATURE_REASONS } from '@flagship/engine';
import { createClient, type FlagsClient } from './client.ts';
import type { ClientOptions, Evaluation, EvaluationContext, FlagValue } from './types.ts';

/**
 * The flag set's id in flag metadata (OpenFeature telemetry's feature_flag.set.id): the same one the
 * service's OFREP answers carry, so server and browser evaluations of one deployment are told apart
 * from other vendors' alike.
 */
export const FLAG_SET_ID = 'flagship';

export interface FlagsProviderOptions {
  /** How long `initialize` waits for the first snapshot before the provider reports an error (default 10 s); loading goes on and READY follows. */
  readyTimeoutMs?: number;
}

/**
 * An OpenFeature server provider on top of the SDK client: local evaluation from the signed
 * snapshot behind the standard API (`OpenFeature.setProviderAndWait(new FlagsProvider(options))`).
 * Emits CONFIGURATION_CHANGED with the flags whose answer may have changed, STALE while the service
 * is unreachable and the last good snapshot answers, ERROR when a refresh fails with no snapshot to
 * answer from, and READY again on recovery. `track()` goes to the service when the client's
 * `tracking` option is on. Evaluations of keys no flag has are counted (`unknownFlagKeys()`): they
 * usually mean a typo in code.
 */
export class FlagsProvider implements Provider {
  readonly metadata = { name: 'flags-sdk' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly hooks = [];
  /** The underlying client, for `state()`, `evaluateAll` and the typed helpers. */
  readonly client: FlagsClient;
  readonly #ownsClient: boolean;
  readonly #readyTimeoutMs: number;
  readonly #unsubscribe: (() => void)[] = [];
  #initialized = false;
  readonly #unknownFlagKeys = new Map<string, number>();

  /** Give it client options (it creates and closes its client) or a client you own. */
  constructor(clientOrOptions: FlagsClient | ClientOptions, options: FlagsProviderOptions = {}) {
    this.#ownsClient = !isClient(clientOrOptions);
    this.client = isClient(clientOrOptions) ? clientOrOptions : createClient(clientOrOptions);
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
    this.#unsubscribe.push(
      this.client.on('change', (change) => {
        if (change.previousVersion === null) return;
        this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: change.flagsChanged, metadata: { snapshotVersion: change.version } });
      }),
      this.client.on('ready', () => {
        // A start that timed out in initialize() recovers here: the SDK moves the provider to READY.
        if (this.#initialized) this.events.emit(ProviderEvents.Ready);
      }),
      this.client.on('stale', (state) => this.events.emit(ProviderEvents.Stale, { message: state.lastError?.message ?? 'the flag service is unreachable' })),
      this.client.on('recovered', () => this.events.emit(ProviderEvents.Ready)),
      this.client.on('error', (error) => {
        // With a snapshot held, a failed refresh is staleness (reported above), not an error.
        if (this.#initialized && !this.client.state().hasSnapshot) this.events.emit(ProviderEvents.Error, { message: error.message, metadata: { code: error.code } });
      }),
    );
  }

  async initialize(): Promise<void> {
    try {
      await this.client.waitUntilReady({ timeoutMs: this.#readyTimeoutMs });
    } finally {
      this.#initialized = true;
    }
  }

  async onClose(): Promise<void> {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    if (this.#ownsClient) await this.client.close();
  }

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: OpenFeatureContext): Promise<ResolutionDetails<boolean>> {
    return this.#resolve(flagKey, defaultValue, context);
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string, context: OpenFeatureContext): Promise<ResolutionDetails<string>> {
    return this.#resolve(flagKey, defaultValue, context);
  }

  async resolveNumberEvaluation(flagKey: string, defaultValue: number, context: OpenFeatureContext): Promise<ResolutionDetails<number>> {
    return this.#resolve(flagKey, defaultValue, context);
  }

  async resolveObjectEvaluation<T extends OpenFeatureJsonValue>(flagKey: string, defaultValue: T, context: OpenFeatureContext): Promise<ResolutionDetails<T>> {
    // Our json flags serve objects and arrays: an object default is what makes the type check meaningful.
    return this.#resolve(flagKey, defaultValue as unknown as FlagValue, context) as unknown as ResolutionDetails<T>;
  }

  /** OpenFeature's tracking API: queued and sent in batches to `POST /v1/tracking-events`. */
  track(trackingEventName: string, context: OpenFeatureContext, trackingEventDetails: TrackingEventDetails): void {
    this.client.track(trackingEventName, toContext(context), trackingEventDetails);
  }

  /** How often each key that no flag has was asked for since the provider started (at most 1,000 keys). */
  unknownFlagKeys(): ReadonlyMap<string, number> {
    return this.#unknownFlagKeys;
  }

  #resolve<T extends FlagValue>(flagKey: string, defaultValue: T, context: OpenFeatureContext): ResolutionDetails<T> {
    const evaluation = this.client.evaluate(flagKey, toContext(context), defaultValue);
    if (evaluation.errorCode === 'FLAG_NOT_FOUND') this.#countUnknown(flagKey);
    return toResolution(evaluation) as ResolutionDetails<T>;
  }

  #countUnknown(flagKey: string): void {
    const count = this.#unknownFlagKeys.get(flagKey);
    // Bounded: a key made from user input must not grow the map without end.
    if (count === undefined && this.#unknownFlagKeys.size >= 1_000) return;
    this.#unknownFlagKeys.set(flagKey, (count ?? 0) + 1);
  }
}

/** Our evaluation in OpenFeature's shape: metadata keeps our reason, rule and version as flat scalars. */
export function toResolution(evaluation: Evaluation): ResolutionDetails<FlagValue> {
  // flagSetId and version are what OpenFeature's telemetry reads (feature_flag.set.id, and
  // feature_flag.version, which the conventions make a string).
  const flagMetadata: FlagMetadata = { flagSetId: FLAG_SET_ID, version: String(evaluation.flagVersion), reason: evaluation.reason, flagVersion: evaluation.flagVersion };
  if (evaluation.ruleId !== undefined) flagMetadata.ruleId = evaluation.ruleId;
  if (evaluation.prerequisiteKey !== undefined) flagMetadata.prerequisiteKey = evaluation.prerequisiteKey;
  if (evaluation.inRollout !== undefined) flagMetadata.inRollout = evaluation.inRollout;
  return {
    value: evaluation.value,
    reason: OPENFEATURE_REASONS[evaluation.reason],
    flagMetadata,
    ...(evaluation.variant === null ? {} : { variant: evaluation.variant }),
    ...(evaluation.errorCode === undefined ? {} : { errorCode: evaluation.errorCode as ErrorCode, errorMessage: evaluation.errorMessage ?? evaluation.errorCode }),
  };
}

/**
 * OpenFeature contexts may hold Dates; the engine's `before`/`after` read ISO strings or epoch
 * milliseconds, so Dates become ISO strings. `targetingKey` passes through: the engine buckets on
 * it when `userId` is absent.
 */
function toContext(context: OpenFeatureContext): EvaluationContext {
  return hasDate(context) ? (convertDates(context) as EvaluationContext) : (context as EvaluationContext);
}

/** Contexts are small; the depth bound only keeps a cyclic one from recursing forever. */
function hasDate(value: unknown, depth = 0): boolean {
  if (value instanceof Date) return true;
  if (typeof value !== 'object' || value === null || depth > 8) return false;
  return Object.values(value).some((inner) => hasDate(inner, depth + 1));
}

function convertDates(value: unknown, depth = 0): unknown {
  if (value instanceof Date) return value.toISOString();
  if (depth > 8) return value;
  if (Array.isArray(value)) return value.map((inner) => convertDates(inner, depth + 1));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, convertDates(inner, depth + 1)]));
  return value;
}

function isClient(value: FlagsClient | ClientOptions): value is FlagsClient {
  return typeof (value as FlagsClient).evaluate === 'function' && typeof (value as FlagsClient).state === 'function';
}
