import type { Context, Next } from 'koa';
import { isDatabaseUnavailable } from '../data/database-errors.ts';
import type { DatabaseStatus } from '../data/database-status.ts';
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
 * PostgreSQL being down, restarting or past a write's deadline is not a bug: `unavailable` (503), and
 * the outage is logged once by `databaseStatus` rather than once per request.
 */
function fromDatabaseError(error: unknown, ctx: Context, databaseStatus: DatabaseStatus | undefined): AppError | undefined {
  const unavailable = isAppError(error) ? error.code === 'unavailable' && isDatabaseUnavailable(error.cause ?? error) : isDatabaseUnavailable(error);
  if (!unavailable) return undefined;
  databaseStatus?.unreachable(error, `${ctx.method} ${ctx.path}`);
  if (isAppError(error)) return error;
  // Outside a write transaction (which says what became of its write itself): a route that writes
  // may have committed before a later read failed, so a client must check rather than assume.
  const writes = !['GET', 'HEAD', 'OPTIONS'].includes(ctx.method);
  return new AppError('unavailable', 'PostgreSQL cannot be reached; retry later', writes ? { outcome: 'unknown' } : undefined);
}

/**
 * The one place that writes error bodies: `{ error: { code, message, details? } }` with the status
 * from the contract's table. Anything that is not an AppError is a bug: logged with its stack,
 * answered as `internal` without leaking internals.
 */
export function errorMiddleware(log: Logger, databaseStatus?: DatabaseStatus) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (thrown) {
      const error = fromDatabaseError(thrown, ctx, databaseStatus) ?? (isAppError(thrown) ? thrown : fromFrameworkError(thrown));
      if (error) {
        // Whatever is unavailable (the database, Temporal, room for another stream) may be back soon.
        if (error.code === 'unavailable') ctx.set('Retry-After', '1');
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
