import type { Context, Next } from 'koa';

/**
 * Sent with every answer. The API serves JSON, Server-Sent Events and Prometheus text, never a page:
 * nothing may be sniffed into HTML, framed, or load anything, and no Referer leaves a browser.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Referrer-Policy': 'no-referrer',
};

/** `Strict-Transport-Security` joins them when `hstsMaxAgeSeconds` is set: only behind TLS, where browsers honour it. */
export function securityHeaders(options: { hstsMaxAgeSeconds?: number | undefined } = {}) {
  const headers = new Map(Object.entries(SECURITY_HEADERS));
  if (options.hstsMaxAgeSeconds !== undefined) headers.set('Strict-Transport-Security', `max-age=${options.hstsMaxAgeSeconds}; includeSubDomains`);
  return async function setSecurityHeaders(ctx: Context, next: Next): Promise<void> {
    // Set before the route runs, so streams that write their own head (SSE) and errors carry them too.
    ctx.res.setHeaders(headers);
    await next();
  };
}
