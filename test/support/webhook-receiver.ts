import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent: what the signature covers. */
  body: string;
  /** The status the receiver answered (or 0 when it never answered). */
  status: number;
  receivedAt: number;
}

export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** The most requests that were in flight at the same time. */
  maxInFlight: number;
  close(): Promise<void>;
}

/**
 * A real HTTP receiver on 127.0.0.1:0. `respond` decides each answer from the request and its index:
 * a status, or `{ status, delayMs }`, or `'hang'` to never answer (a receiver that times out).
 */
export async function startWebhookReceiver(
  respond: (request: ReceivedRequest, index: number) => number | { status: number; delayMs: number } | 'hang' = () => 200,
): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  let inFlight = 0;
  const receiver: WebhookReceiver = { url: '', requests, maxInFlight: 0, close: async () => {} };
  const server = createServer((req, res) => {
    inFlight += 1;
    receiver.maxInFlight = Math.max(receiver.maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: 0, receivedAt: Date.now() };
      const index = requests.length;
      requests.push(received);
      const answer = respond(received, index);
      if (answer === 'hang') {
        res.on('close', () => (inFlight -= 1));
        return;
      }
      const { status, delayMs } = typeof answer === 'number' ? { status: answer, delayMs: 0 } : answer;
      setTimeout(() => {
        received.status = status;
        inFlight -= 1;
        res.statusCode = status;
        res.end(status >= 300 ? 'receiver says no' : 'ok');
      }, delayMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver;
}
