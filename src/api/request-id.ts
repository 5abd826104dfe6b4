import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { withRequestId } from '../log.ts';

/** A caller's id is kept when it is short and plain; anything else could forge log lines, so a new one is made. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * Every request gets an id: the caller's `X-Request-Id` when it is sane, a new UUID otherwise. It
 * is answered in `X-Request-Id` and rides along with every log line written while the request is
 * handled (the logger reads it from the async context), so one request's lines can be found together.
 */
export function requestId() {
  return async function assignRequestId(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('x-request-id');
    const id = SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    await withRequestId(id, next);
  };
}
