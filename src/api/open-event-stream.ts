import type { Context } from 'koa';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Takes over the request's socket for a server-sent event stream and writes its head; the caller
 * writes frames to the returned response and ends it. The socket never times out, and Nagle does
 * not hold back small frames. The stream is written to the socket directly: Koa's own body piping
 * reports every client that goes away as an error, and a client going away is how every SSE
 * stream ends.
 */
export function openEventStream(ctx: Context, extraHeaders: OutgoingHttpHeaders = {}): ServerResponse {
  const { req, res } = ctx;
  req.socket.setTimeout(0);
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true);
  ctx.status = 200;
  ctx.respond = false;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
    ...extraHeaders,
  });
  return res;
}
