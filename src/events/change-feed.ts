import pg from 'pg';
import { CHANGES_CHANNEL, type ChangeNotice } from '../data/write-transaction.ts';
import type { Logger } from '../log.ts';

/**
 * `notice` is a committed change; `null` means "you may have missed some" (the LISTEN connection was
 * re-established): a subscriber then re-reads from its cursor, as it would after a poll.
 */
export type ChangeListener = (notice: ChangeNotice | null) => void;

export interface ChangeFeed {
  /** Calls `listener` for every NOTIFY on the changes channel; returns the unsubscribe function. */
  subscribe(listener: ChangeListener): () => void;
  /** How many listeners are subscribed (an SSE client each, on an API process). */
  subscribers(): number;
  /** Resolves once LISTEN is in place (or the feed is closed); tests await it before measuring latency. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface ChangeFeedOptions {
  databaseUrl: string;
  log: Logger;
  channel?: string;
  /**
   * First reconnect delay after the connection drops; doubles up to `maxReconnectDelayMs`. The cap
   * is a second so the feed is back within a second of PostgreSQL's return: until then other API
   * processes learn of changes only through their periodic check.
   */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** A `SELECT 1` on the LISTEN connection this often finds a connection that died silently. */
  pingIntervalMs?: number;
}

/**
 * One LISTEN connection per process, shared by every subscriber (all SSE clients of an API process,
 * the webhook dispatcher of a worker). A dedicated `pg` client, because a pooled connection can be
 * handed to someone else and LISTEN is per session. It reconnects on its own when the connection
 * drops and tells subscribers (with `null`) to catch up, since notices sent meanwhile are lost.
 * Notices are only a wake-up: consumers always read the outbox after their cursor, and poll as well.
 */
export function createChangeFeed(options: ChangeFeedOptions): ChangeFeed {
  const channel = options.channel ?? CHANGES_CHANNEL;
  const baseDelay = options.reconnectDelayMs ?? 250;
  const maxDelay = options.maxReconnectDelayMs ?? 1_000;
  const listeners = new Set<ChangeListener>();
  let client: pg.Client | undefined;
  let closed = false;
  let delay = baseDelay;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  let everConnected = false;
  /** Failures since the feed last listened: the first is logged at warn, the rest of an outage at debug. */
  let failures = 0;
  const failed = (error: unknown, message: string) => {
    failures += 1;
    if (failures === 1) options.log.warn({ err: error }, `${message}; retrying every second at most`);
    else options.log.debug({ err: error, failures }, message);
  };

  const emit = (notice: ChangeNotice | null) => {
    for (const listener of listeners) {
      try {
        listener(notice);
      } catch (error) {
        options.log.error({ err: error }, 'change feed listener failed');
      }
    }
  };

  const scheduleReconnect = (from: pg.Client) => {
    if (closed || client !== from) return;
    client = undefined;
    clearInterval(pingTimer);
    from.removeAllListeners('notification');
    from.end().catch(() => undefined);
    // connect() catches its own connection failures and schedules the next try, as at start.
    reconnectTimer = setTimeout(() => void connect(), delay);
    reconnectTimer.unref();
    delay = Math.min(delay * 2, maxDelay);
  };

  async function connect(): Promise<void> {
    if (closed) return;
    // A connect that hangs (an unreachable host) gives up, so the retry loop keeps its pace.
    const next = new pg.Client({ connectionString: options.databaseUrl, keepAlive: true, application_name: 'flags-change-feed', connectionTimeoutMillis: 2_000 });
    client = next;
    next.on('error', (error) => {
      failed(error, 'change feed connection failed');
      scheduleReconnect(next);
    });
    next.on('end', () => scheduleReconnect(next));
    next.on('notification', (message) => {
      if (message.channel !== channel) return;
      emit(parseNotice(message.payload));
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${next.escapeIdentifier(channel)}`);
    } catch (error) {
      failed(error, 'change feed could not LISTEN');
      scheduleReconnect(next);
      return;
    }
    if (closed || client !== next) {
      await next.end().catch(() => undefined);
      return;
    }
    delay = baseDelay;
    if (everConnected) {
      options.log.info({ channel, failures }, 'change feed reconnected');
      emit(null);
    }
    failures = 0;
    everConnected = true;
    markReady();
    pingTimer = setInterval(() => {
      next.query('SELECT 1').catch((error: unknown) => {
        failed(error, 'change feed ping failed');
        scheduleReconnect(next);
      });
    }, options.pingIntervalMs ?? 30_000);
    pingTimer.unref();
  }

  void connect();

  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    subscribers: () => listeners.size,
    ready: () => readyPromise,
    async close() {
      closed = true;
      markReady();
      clearTimeout(reconnectTimer);
      clearInterval(pingTimer);
      listeners.clear();
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}

/** A payload we cannot read still means "something changed": wake everyone, they read the outbox. */
function parseNotice(payload: string | undefined): ChangeNotice | null {
  try {
    const value = JSON.parse(payload ?? '') as Partial<ChangeNotice>;
    if (typeof value.seq !== 'number' || typeof value.type !== 'string') return null;
    return { seq: value.seq, type: value.type, entityKey: typeof value.entityKey === 'string' ? value.entityKey : null };
  } catch {
    return null;
  }
}
