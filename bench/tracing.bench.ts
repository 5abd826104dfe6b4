// `npm run bench:tracing`: what a flag.evaluate span costs on the hot path, with no tracer provider
// (the default: the API's no-op span) and with the OTLP exporter registered, next to the evaluation
// itself for scale.
import { trace } from '@opentelemetry/api';
import { BatchSpanProcessor, InMemorySpanExporter, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { bench, do_not_optimize, run } from 'mitata';
import { compileFlagSet, evaluate } from '@flagship/engine';
import { benchContexts, benchFlags } from './flag-mix.ts';

const set = compileFlagSet({ flags: benchFlags(1_000).map((flag) => ({ ...flag, state: 'active' as const, version: 1 })), segments: [] });
const contexts = benchContexts(10_000);
const keys = [...set.keys()];
let index = 0;

function evaluateWithSpan(): unknown {
  const context = contexts[index % contexts.length]!;
  const result = evaluate(set, keys[index++ % keys.length]!, context)!;
  const span = trace.getTracer('flags').startSpan('flag.evaluate');
  if (span.isRecording()) {
    span.setAttribute('feature_flag.key', result.flagKey);
    span.setAttribute('feature_flag.reason', result.reason);
    span.setAttribute('feature_flag.version', result.flagVersion);
    span.setAttribute('feature_flag.cache_hit', false);
    span.end();
  }
  return result;
}

bench('evaluate only', () => do_not_optimize(evaluate(set, keys[index++ % keys.length]!, contexts[index % contexts.length]!)));
bench('evaluate + span, no tracer provider (default)', () => do_not_optimize(evaluateWithSpan()));
await run({ format: 'mitata' });

// With a provider: spans are recorded and batched (an in-memory exporter stands in for OTLP, so the
// figure is the process's own cost, not the network's).
const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(new InMemorySpanExporter(), { maxQueueSize: 100_000, scheduledDelayMillis: 200 })] });
provider.register();
bench('evaluate + span, exporting provider', () => do_not_optimize(evaluateWithSpan()));
await run({ format: 'mitata' });
await provider.shutdown();
