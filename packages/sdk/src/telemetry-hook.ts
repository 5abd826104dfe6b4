import { metrics, trace, type Counter } from '@opentelemetry/api';
import { createEvaluationEvent, type EvaluationDetails, type FlagValue, type Hook, type HookContext } from '@openfeature/server-sdk';

const INSTRUMENTATION = 'flagship-openfeature';

/**
 * OpenTelemetry for OpenFeature evaluations, by the feature-flag semantic conventions: every
 * evaluation adds a `feature_flag.evaluation` event to the active span, with `feature_flag.key`,
 * `feature_flag.result.variant`, `feature_flag.result.reason`, `feature_flag.provider.name`,
 * `feature_flag.set.id`, `feature_flag.version` and, for errors, `error.type` (the attributes are
 * OpenFeature's own `createEvaluationEvent`, so they follow the spec's appendix as it moves).
 * Evaluations of unknown flag keys are also counted on the metric
 * `feature_flag.evaluation.unknown_key` (by key): they usually mean a typo in code.
 *
 * Register it once: `OpenFeature.addHooks(new OpenTelemetryHook())`. With no OpenTelemetry SDK
 * installed, the API's no-op span and meter make it cost next to nothing.
 */
export class OpenTelemetryHook implements Hook {
  readonly #unknownKeys: Counter;

  constructor() {
    this.#unknownKeys = metrics.getMeter(INSTRUMENTATION).createCounter('feature_flag.evaluation.unknown_key', {
      description: 'Evaluations of a flag key that no flag has (usually a typo in code)',
    });
  }

  finally(hookContext: Readonly<HookContext<FlagValue>>, evaluationDetails: EvaluationDetails<FlagValue>): void {
    if (evaluationDetails.errorCode === 'FLAG_NOT_FOUND') this.#unknownKeys.add(1, { 'feature_flag.key': hookContext.flagKey });
    const span = trace.getActiveSpan();
    if (!span?.isRecording()) return;
    const event = createEvaluationEvent(hookContext, evaluationDetails);
    const attributes: Record<string, string | number | boolean> = {};
    for (const [name, value] of Object.entries(event.attributes)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') attributes[name] = value;
    }
    span.addEvent(event.name, attributes);
  }
}
