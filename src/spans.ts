import { SpanStatusCode, trace } from '@opentelemetry/api';

/** The service's tracer: a no-op until src/tracing.ts registers an exporting provider. */
export const tracer = trace.getTracer('flags');

/** A `flag.update` span around a flag write: the flag, the action, and the version it produced. */
export async function tracedUpdate<T extends { version: number }>(flagKey: string, action: string, write: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan('flag.update', async (span) => {
    span.setAttribute('feature_flag.key', flagKey);
    span.setAttribute('feature_flag.action', action);
    try {
      const written = await write();
      span.setAttribute('feature_flag.version', written.version);
      return written;
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}
