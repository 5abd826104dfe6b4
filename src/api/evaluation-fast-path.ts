import type { Context, Next } from 'koa';
import type { RouteRegistry } from './route.ts';

const EVALUATE_PATH = '/v1/evaluate';
const OFREP_SINGLE_PREFIX = '/ofrep/v1/evaluate/flags/';
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Serves the two single-evaluation routes, `POST /v1/evaluate` and OFREP single, straight from
 * their registration, ahead of the routers: the routers would try every route's pattern in turn
 * (a dozen routers, about a hundred routes) to find what two string comparisons find here. The
 * route itself runs exactly as the router would run it (scope, body schema, handler, the route
 * template for metrics). Anything unusual about the path, a percent-encoded or empty key, a
 * trailing slash, goes on to the routers, which decode and match it as always.
 */
export function evaluationFastPath(registry: RouteRegistry) {
  const evaluate = registry.direct('evaluate');
  const ofrepSingle = registry.direct('ofrepEvaluateFlag');
  return function dispatchEvaluation(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'POST') return next();
    const path = ctx.path;
    if (path === EVALUATE_PATH) return evaluate(ctx, NO_PARAMS);
    if (path.startsWith(OFREP_SINGLE_PREFIX)) {
      const key = path.slice(OFREP_SINGLE_PREFIX.length);
      if (key !== '' && !key.includes('/') && !key.includes('%')) return ofrepSingle(ctx, { key });
    }
    return next();
  };
}
