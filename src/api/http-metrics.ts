import type { Context, Next } from 'koa';
import type { Registry } from 'prom-client';
import { GrowingCounter } from './slot-metrics.ts';

/**
 * `flags_http_requests_total{method, route, status}`: every answer of the API, by the route's
 * template (`/v1/flags/:key`, never the path itself, so keys do not become series) and status. The
 * label sets are bounded by routes × methods × statuses; a request no route matched counts as
 * `route="unmatched"`. Each combination gets its slot the first time it is seen; after that a
 * request costs three map lookups and an addition.
 */
export class HttpMetrics {
  readonly #requests: GrowingCounter<'method' | 'route' | 'status'>;
  readonly #slots = new Map<string, Map<string, Map<number, Float64Array>>>();

  constructor(registry: Registry) {
    this.#requests = new GrowingCounter({
      name: 'flags_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status.',
      registers: [registry],
    });
  }

  count(method: string, route: string, status: number): void {
    let byMethod = this.#slots.get(route);
    if (byMethod === undefined) this.#slots.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let slot = byStatus.get(status);
    if (slot === undefined) byStatus.set(status, (slot = this.#requests.series({ method, route, status: String(status) })));
    slot[0]! += 1;
  }

  /** Koa middleware; outside the error middleware, so it sees the status every error was answered with. */
  middleware() {
    const known = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
    return async (ctx: Context, next: Next): Promise<void> => {
      try {
        await next();
      } finally {
        // A method outside the usual few would otherwise be a label any client could mint.
        const method = known.has(ctx.method) ? ctx.method : 'OTHER';
        this.count(method, (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched', ctx.status);
      }
    };
  }
}
