import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Recorded {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface SdkProxy {
  url: string;
  /** `pass` forwards; `tamper` flips one byte of every snapshot body; `replay` answers every snapshot request with `recorded`; `down` drops connections. */
  mode: 'pass' | 'tamper' | 'replay' | 'down';
  /** The last 200 snapshot response that passed through. */
  lastSnapshot: Recorded | undefined;
  recorded: Recorded | undefined;
  /** Every request: path and the status answered. */
  log: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

const FORWARDED_REQUEST = ['authorization', 'content-type', 'if-none-match', 'accept', 'last-event-id'];
const FORWARDED_RESPONSE = ['content-type', 'etag', 'x-flags-snapshot-version', 'x-flags-signature', 'cache-control'];

/**
 * A man in the middle between the SDK and the real API, to count what the SDK sends and to play
 * the attacker: tamper with a signed snapshot, or replay an old one.
 */
export async function startSdkProxy(target: string): Promise<SdkProxy> {
  const proxy: SdkProxy = {
    url: '',
    mode: 'pass',
    lastSnapshot: undefined,
    recorded: undefined,
    log: [],
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://proxy').pathname;
      if (proxy.mode === 'down') {
        proxy.log.push({ method: req.method ?? 'GET', path, status: 0 });
        req.socket.destroy();
        return;
      }
      if (path === '/v1/snapshot' && proxy.mode === 'replay' && proxy.recorded) {
        proxy.log.push({ method: req.method ?? 'GET', path, status: proxy.recorded.status });
        res.writeHead(proxy.recorded.status, proxy.recorded.headers).end(proxy.recorded.body);
        return;
      }
      const headers: Record<string, string> = { 'accept-encoding': 'identity' };
      for (const name of FORWARDED_REQUEST) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
      const body = await readBody(req);
      const upstream = await fetch(`${target}${req.url}`, { method: req.method, headers, ...(body.length > 0 ? { body } : {}) });
      const responseHeaders: Record<string, string> = {};
      for (const name of FORWARDED_RESPONSE) {
        const value = upstream.headers.get(name);
        if (value !== null) responseHeaders[name] = value;
      }
      proxy.log.push({ method: req.method ?? 'GET', path, status: upstream.status });
      if (responseHeaders['content-type']?.startsWith('text/event-stream') && upstream.body) {
        res.writeHead(upstream.status, responseHeaders);
        const reader = upstream.body.getReader();
        res.on('close', () => void reader.cancel().catch(() => undefined));
        for (;;) {
          const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
          if (done || !value) break;
          res.write(value);
        }
        res.end();
        return;
      }
      let payload = Buffer.from(await upstream.arrayBuffer());
      if (path === '/v1/snapshot' && upstream.status === 200) {
        proxy.lastSnapshot = { status: 200, headers: responseHeaders, body: payload };
        if (proxy.mode === 'tamper') {
          payload = Buffer.from(payload);
          const at = payload.indexOf('"defaultValue":') + '"defaultValue":'.length + 1;
          payload[at] = payload[at]! ^ 1;
        }
      }
      res.writeHead(upstream.status, responseHeaders).end(payload);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
