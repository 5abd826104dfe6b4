import type { Context, Next } from 'koa';
import { AppError, isAppError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** The body parser throws a SyntaxError with status 400 for a body that is not JSON. */
export function isMalformedBody(error: unknown): boolean {
  return error instanceof SyntaxError && (error as { status?: number }).status === 400;
}

/** Koa's body parser and http-errors throw errors with `status` and `type`; translate the ones a client caused. */
function fromFrameworkError(error: unknown): AppError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, type, message } = error as { status?: number; type?: string; message?: string };
  if (type === 'entity.too.large') return new AppError('validation_error', 'request body is too large', { limit: (error as { limit?: number }).limit });
  if (isMalformedBody(error)) return new AppError('validation_error', `request body is not valid JSON: ${message ?? ''}`.trim());
  if (status === 415) return new AppError('validation_error', 'request body must be application/json');
  if (status !== undefined && status >= 400 && status < 500) return new AppError('validation_error', message ?? 'bad request');
  return undefined;
}

/**
 * The one place that writes error bodies: `{ error: { code, message, details? } }` with the status
 * from the contract's table. Anything that is not an AppError is a bug: logged with its stack,
 * answered as `internal` without leaking internals.
 */
export function errorMiddleware(log: Logger) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (thrown) {
      const error = isAppError(thrown) ? thrown : fromFrameworkError(thrown);
      if (error) {
        ctx.status = error.status;
        ctx.body = { error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) } };
        return;
      }
      log.error({ err: thrown, method: ctx.method, path: ctx.path }, 'unhandled error');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: 'internal error' } };
    }
  };
}
