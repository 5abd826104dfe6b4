import {
  type ErrorCode,
  OpenFeatureEventEmitter,
  ProviderEvents,
  StandardResolutionReasons,
  type EvaluationContext as OpenFeatureContext,
  type FlagMetadata,
  type JsonValue as OpenFeatureJsonValue,
  type Provider,
  type ResolutionDetails,
  type ResolutionReason,
} from '@openfeature/server-sdk';
import { createClient, type FlagsClient } from './client.ts';
import type { ClientOptions, Evaluation, EvaluationContext, FlagValue, Reason } from './types.ts';

/** OpenFeature's reasons for ours, as CONTRACT.md maps them. */
const OPENFEATURE_REASON = {
  default: StandardResolutionReasons.DEFAULT,
  rule: StandardResolutionReasons.TARGETING_MATCH,
  percentage: StandardResolutionReasons.SPLIT,
  off: StandardResolutionReasons.DISABLED,
  prerequisite_failed: StandardResolutionReasons.DISABLED,
  error: StandardResolutionReasons.ERROR,
} as const satisfies Record<Reason, ResolutionReason>;

export interface FlagsProviderOptions {
  /** How long `initialize` waits for the first snapshot before the provider reports an error (default 10 s); loading goes on and READY follows. */
  readyTimeoutMs?: number;
}

/**
 * An OpenFeature server provider on top of the SDK client: local evaluation from the signed
 * snapshot behind the standard API (`OpenFeature.setProviderAndWait(new FlagsProvider(options))`).
 * Emits CONFIGURATION_CHANGED with the flags whose answer may have changed, STALE while the service
 * is unreachable, and READY again when it is back.
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

  #resolve<T extends FlagValue>(flagKey: string, defaultValue: T, context: OpenFeatureContext): ResolutionDetails<T> {
    return toResolution(this.client.evaluate(flagKey, toContext(context), defaultValue)) as ResolutionDetails<T>;
  }
}

/** Our evaluation in OpenFeature's shape: metadata keeps our reason, rule and version as flat scalars. */
export function toResolution(evaluation: Evaluation): ResolutionDetails<FlagValue> {
  const flagMetadata: FlagMetadata = { reason: evaluation.reason, flagVersion: evaluation.flagVersion };
  if (evaluation.ruleId !== undefined) flagMetadata.ruleId = evaluation.ruleId;
  if (evaluation.prerequisiteKey !== undefined) flagMetadata.prerequisiteKey = evaluation.prerequisiteKey;
  if (evaluation.inRollout !== undefined) flagMetadata.inRollout = evaluation.inRollout;
  return {
    value: evaluation.value,
    reason: OPENFEATURE_REASON[evaluation.reason],
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
