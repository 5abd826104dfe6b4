import type { Context, Next } from 'koa';
import type { LogLevel } from '../config.ts';
import type { Logger } from '../log.ts';
import { EVALUATION_TAGS, type Operation } from './route.ts';
import type { Principal } from './principal.ts';

export interface AccessLogOptions {
  /** Level of every access-log line but the two below. */
  level: LogLevel;
  /** Level of successful evaluations: below the logger's level they cost one comparison and no allocation. */
  evaluationLevel: LogLevel;
}

/**
 * One line per request once it is answered: method, URL, status, time, the operation, the actor
 * (the person or service behind the token) and the token (the request id comes with every line). Server errors are logged at `error`,
 * except `503 unavailable` (a dependency away, an expected state the outage's own warn line explains), which is `warn`; the
 * evaluation hot path's successes at their own level (`debug` by default, so with the default
 * `info` they are not even built) — a service asking a few thousand times a second would otherwise
 * drown everything else, and pay for it.
 */
export function accessLog(log: Logger, options: AccessLogOptions) {
  return async function logAccess(ctx: Context, next: Next): Promise<void> {
    const started = performance.now();
    try {
      await next();
    } finally {
      const status = ctx.status;
      const operation = ctx.state.operation as Operation | undefined;
      const principal = ctx.state.principal as Principal | undefined;
      const level: LogLevel = status === 503 ? 'warn' : status >= 500 ? 'error' : status < 400 && operation && EVALUATION_TAGS.has(operation.tag) ? options.evaluationLevel : options.level;
      if (level !== 'silent' && log.isLevelEnabled(level)) {
        log[level](
          {
            method: ctx.method,
            url: ctx.originalUrl,
            status,
            ms: Math.round((performance.now() - started) * 100) / 100,
            operation: operation?.operationId,
            actor: principal?.actor.id,
            tokenId: principal?.tokenId,
            ip: ctx.ip,
          },
          'request',
        );
      }
    }
  };
}
