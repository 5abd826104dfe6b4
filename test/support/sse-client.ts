import { request, type IncomingMessage } from 'node:http';

export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

export interface SseConnection {
  status: number;
  headers: IncomingMessage['headers'];
  /** Every event received so far, in order. */
  events: SseEvent[];
  /** Comment lines received so far (`: keep-alive` and the like), without the colon. */
  comments: string[];
  /** The body of a non-200 answer, parsed as JSON. */
  errorBody: unknown;
  /** What an EventSource would send as Last-Event-ID: the last `id:` received, with or without data. */
  lastEventId: string | undefined;
  /** Whether the server ended the stream. */
  ended: boolean;
  /** Resolves once `count` events have arrived in total; rejects after `timeoutMs`. */
  waitForEvents(count: number, timeoutMs?: number): Promise<SseEvent[]>;
  /** Drops the connection, as a client whose network went away would. */
  close(): void;
}

/**
 * A minimal Server-Sent Events client over node:http, so a test can drop the connection at will and
 * see exactly what arrived: the `id`, `event` and `data` fields, and comment lines.
 */
export function openSse(url: string, options: { token?: string | null; lastEventId?: string } = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    const req = request(url, { headers }, (res) => {
      res.setEncoding('utf8');
      const events: SseEvent[] = [];
      const comments: string[] = [];
      const waiters = new Set<() => void>();
      let buffer = '';
      let raw = '';
      const connection: SseConnection = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        errorBody: undefined,
        lastEventId: undefined,
        ended: false,
        waitForEvents(count, timeoutMs = 5_000) {
          if (events.length >= count) return Promise.resolve(events.slice(0, count));
          return new Promise((resolveWait, rejectWait) => {
            const check = () => {
              if (events.length < count) return;
              clearTimeout(timer);
              waiters.delete(check);
              resolveWait(events.slice(0, count));
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              rejectWait(new Error(`expected ${count} events within ${timeoutMs} ms, got ${events.length}: ${JSON.stringify(events.map((e) => e.id))}`));
            }, timeoutMs);
            waiters.add(check);
          });
        },
        close() {
          req.destroy();
        },
      };
      if (connection.status !== 200) {
        res.on('data', (chunk: string) => (raw += chunk));
        res.on('end', () => {
          connection.errorBody = raw ? JSON.parse(raw) : undefined;
          resolve(connection);
        });
        return;
      }
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { id: undefined, event: undefined, data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) event.id = line.slice(4);
            else if (line.startsWith('event: ')) event.event = line.slice(7);
            else if (line.startsWith('data: ')) {
              event.data += (hasData ? '\n' : '') + line.slice(6);
              hasData = true;
            }
          }
          if (event.id !== undefined) connection.lastEventId = event.id;
          if (hasData) events.push(event);
        }
        for (const waiter of [...waiters]) waiter();
      });
      res.on('error', () => undefined);
      res.on('end', () => {
        connection.ended = true;
      });
      resolve(connection);
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    req.end();
  });
}
