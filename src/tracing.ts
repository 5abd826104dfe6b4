import { trace } from '@opentelemetry/api';
import type { Logger } from './log.ts';

export interface RunningTracing {
  stop(): Promise<void>;
}

/**
 * Exports the spans made through `@opentelemetry/api` (`flag.evaluate`, `flag.update`) over OTLP/HTTP
 * when the standard OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
 * Without them nothing is registered, and the API's spans are no-ops. The SDK is imported only when
 * configured, so a process without tracing never loads it.
 */
export async function startTracing(env: NodeJS.ProcessEnv, log: Logger, serviceName: string): Promise<RunningTracing | undefined> {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces` : undefined);
  if (!endpoint) return undefined;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || serviceName }),
    // Headers and timeouts still come from the standard OTEL_EXPORTER_OTLP_* variables.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }))],
  });
  provider.register();
  log.info({ endpoint }, 'exporting traces over OTLP/HTTP');
  return {
    async stop() {
      await provider.shutdown();
      // Unregister, so a later provider (another start in the same process) can register.
      trace.disable();
    },
  };
}
