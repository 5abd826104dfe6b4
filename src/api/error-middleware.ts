import type { Context, Next } from 'koa';
import { AppError, isAppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { MalformedBody } from './json-body.ts';

/** A body that is not JSON at all (bad bytes or syntax), as opposed to JSON that fails validation. */
export function isMalformedBody(error: unknown): boolean {
  return error instanceof MalformedBody;
}

/** Koa and http-errors throw errors with a `status`; translate the ones a client caused. */
function fromFrameworkError(error: unknown): AppError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, message } = error as { status?: number; message?: string };
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
