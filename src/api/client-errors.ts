import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { SECURITY_HEADERS } from './security-headers.ts';

function answer(socket: Duplex, status: string, code: string, message: string, extra: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { code, message } });
  const headers = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...SECURITY_HEADERS, ...extra };
  socket.end(`HTTP/1.1 ${status}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n${body}`);
}

/**
 * Requests Node's HTTP parser refuses before Koa sees them — a method it does not know (`FOO`), a
 * malformed header — get the contract's error body instead of an empty `400 Bad Request`, and
 * CONNECT (which Node hands to a separate event) gets `405 method_not_allowed` instead of a closed socket.
 */
export function answerMalformedRequests(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A client that went away, or took too long to send its request, has nobody left to read an answer.
    if (error.code === 'ECONNRESET' || error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
      socket.destroy();
      return;
    }
    answer(socket, '400 Bad Request', 'validation_error', `the request is not valid HTTP/1.1 (${error.code ?? 'parse error'}): an unknown method, a malformed request line or header, or headers too large`);
  });
  server.on('connect', (_request, socket: Duplex) => {
    answer(socket, '405 Method Not Allowed', 'method_not_allowed', 'CONNECT is not allowed: this is not a proxy');
  });
}
