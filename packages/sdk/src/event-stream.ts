/** One Server-Sent Event: its `id`, `event` and `data` fields. */
export interface StreamEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export interface EventStreamOptions {
  url: string;
  token: string;
  fetch: typeof fetch;
  /** Called on every (re)connection: events sent while disconnected are not replayed, so the caller catches up. */
  onOpen(): void;
  onEvent(event: StreamEvent): void;
  /** A failed connection; `fatal` (401/403) means the stream has stopped for good. */
  onError(error: { message: string; status?: number; fatal: boolean }): void;
  onClose(): void;
  /** Nothing at all (not even the server's 15 s keep-alive comment) for this long: reconnect. */
  idleTimeoutMs?: number;
  minReconnectMs?: number;
  maxReconnectMs?: number;
}

export interface EventStream {
  close(): void;
}

/**
 * Follows an SSE endpoint over fetch, reconnecting with jittered exponential backoff. It does not
 * resume with Last-Event-ID: its only use is "refetch the snapshot", which the caller does on every
 * (re)connection anyway, so a replay would only repeat that.
 */
export function followEventStream(options: EventStreamOptions): EventStream {
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const minDelay = options.minReconnectMs ?? 1_000;
  const maxDelay = options.maxReconnectMs ?? 30_000;
  let closed = false;
  let current: AbortController | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let delay = minDelay;

  const scheduleReconnect = () => {
    if (closed) return;
    const wait = delay / 2 + Math.random() * (delay / 2);
    delay = Math.min(delay * 2, maxDelay);
    retryTimer = setTimeout(() => void connect(), wait);
    retryTimer.unref?.();
  };

  async function connect(): Promise<void> {
    if (closed) return;
    const controller = new AbortController();
    current = controller;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const resetIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => controller.abort(new Error(`no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
      idleTimer.unref?.();
    };
    let opened = false;
    try {
      resetIdle();
      const response = await options.fetch(options.url, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${options.token}`, 'cache-control': 'no-cache' },
        signal: controller.signal,
      });
      if (response.status === 401 || response.status === 403) {
        await response.body?.cancel().catch(() => undefined);
        closed = true;
        options.onError({ message: `the event stream refused the token (HTTP ${response.status}); it needs feature_flag:manage. Polling goes on.`, status: response.status, fatal: true });
        return;
      }
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel().catch(() => undefined);
        throw Object.assign(new Error(`the event stream answered HTTP ${response.status}`), { status: response.status });
      }
      opened = true;
      delay = minDelay;
      options.onOpen();
      await readEvents(response.body, resetIdle, options.onEvent);
      if (!closed) options.onError({ message: 'the event stream ended; reconnecting', fatal: false });
    } catch (error) {
      if (closed) return;
      const status = (error as { status?: number }).status;
      options.onError({ message: `the event stream failed: ${(error as Error).message}`, ...(status === undefined ? {} : { status }), fatal: false });
    } finally {
      clearTimeout(idleTimer);
      if (opened) options.onClose();
      if (current === controller) current = undefined;
    }
    scheduleReconnect();
  }

  void connect();
  return {
    close() {
      closed = true;
      clearTimeout(retryTimer);
      current?.abort();
    },
  };
}

/** The SSE wire format: lines, `field: value`, comments start with `:`, a blank line dispatches. */
async function readEvents(body: ReadableStream<Uint8Array>, onData: () => void, onEvent: (event: StreamEvent) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onData();
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) !== -1) {
        // A lone CR at the end may be the first half of a CRLF split across chunks.
        if (buffer[newline] === '\r' && newline === buffer.length - 1) break;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer[newline] === '\r' && buffer[newline + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (data.length > 0) onEvent({ id, event: event || 'message', data: data.join('\n') });
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
        else if (field === 'id') id = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
