import type Router from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../errors.ts';

/**
 * The last middleware: reached only when no route answered. A path no route has is `not_found`; a
 * path that exists under other methods is `method_not_allowed` (405, with `Allow`), whatever the
 * method — TRACE, QUERY, PROPFIND alike — so every answer has the contract's error body and none is
 * a 501. OPTIONS on a known path answers 204 with `Allow`.
 */
export function unmatchedRoute(routers: readonly Router[]) {
  return async function answerUnmatched(ctx: Context): Promise<void> {
    const allowed = new Set<string>();
    for (const router of routers) {
      for (const layer of router.match(ctx.path, ctx.method).path) for (const method of layer.methods) allowed.add(method);
    }
    if (allowed.size === 0) throw new AppError('not_found', `no route ${ctx.path}`);
    allowed.add('OPTIONS');
    const methods = [...allowed].sort();
    const allow = methods.join(', ');
    ctx.set('Allow', allow);
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return;
    }
    throw new AppError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allow}`, { allow: methods });
  };
}
