import { latestOutboxId, readOutboxAfter, type OutboxEvent } from '../data/outbox.ts';
import type { DatabasePool } from '../data/pool.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ChangeFeed } from './change-feed.ts';
import { Wakeup } from './wakeup.ts';

/** One outbox event, formatted once as its Server-Sent Events frame for every stream that sends it. */
export interface EventFrame {
  id: number;
  type: string;
  text: string;
}

function frameOf(event: OutboxEvent): EventFrame {
  // JSON.stringify never emits a raw newline, so the payload is always one `data:` line.
  return { id: event.id, type: event.type, text: `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n` };
}

export interface OutboxTailOptions {
  /** A pool apart from the write path's: streams never hold a connection a write waits for. */
  db: DatabasePool;
  log: Logger;
  changeFeed?: ChangeFeed | undefined;
  /** Open streams this process serves in all, and per token. */
  maxStreams: number;
  maxStreamsPerToken: number;
  /** The safety net under LISTEN/NOTIFY: the tail reads this often even without a notice. */
  pollMs?: number;
  /** Recent frames kept in memory, in bytes of their text: a stream resuming within them reads no database. */
  bufferBytes?: number;
}

/** A stream's place among the open ones; release it when the stream ends. */
export interface StreamLease {
  release(): void;
}

const BATCH_SIZE = 200;

/**
 * The one reader of the outbox's live end for every event stream of an API process. However many
 * streams are open, one loop reads new events (woken by the process's LISTEN feed, and every
 * `pollMs` in case a notice was lost), formats each once, and keeps the most recent ones in a
 * buffer bounded in bytes; streams take their events from that buffer. Only a stream that resumes
 * from an id older than the buffer reads the database itself, a page at a time, through the same
 * small pool. The loop runs while at least one stream is open.
 *
 * It also counts the streams, per process and per token, and refuses one past either cap.
 */
export class OutboxTail {
  readonly #options: OutboxTailOptions;
  readonly #wakeup = new Wakeup();
  readonly #notices = new Wakeup();
  /** Frames in id order; `#start` is the oldest one still kept. */
  #frames: EventFrame[] = [];
  #start = 0;
  #bytes = 0;
  /** Every event with an id above `#floor` and up to `#head` is in the buffer. */
  #floor = 0;
  #head: number | undefined;
  #streams = 0;
  /** Open streams that read the outbox: the reader runs while there is one. */
  #following = 0;
  readonly #perToken = new Map<string, number>();
  #running: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  #reads = 0;
  /** Settles once the running reader knows the head (or stops); renewed each time it starts. */
  #headKnown: Promise<void> = Promise.resolve();
  #markHeadKnown: () => void = () => {};

  constructor(options: OutboxTailOptions) {
    this.#options = options;
  }

  /** How many streams are open, of every kind. */
  get streams(): number {
    return this.#streams;
  }

  /** Queries of the outbox made for streams so far: the tail's own reads and catch-up pages. */
  get databaseReads(): number {
    return this.#reads;
  }

  /** Bumped whenever new events arrive: note it before reading, then `wait` for a change. */
  get generation(): number {
    return this.#wakeup.generation;
  }

  /**
   * Takes a place for a stream of `tokenId` that follows the outbox, or refuses (see `lease`).
   */
  open(tokenId: string): StreamLease {
    const lease = this.lease(tokenId);
    this.#following += 1;
    this.#ensureRunning();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#following -= 1;
        lease.release();
      },
    };
  }

  /**
   * Takes a place for a stream of `tokenId` without following the outbox (OFREP's change streams
   * are fed by the flag set), or refuses: past the per-token cap with 429 `too_many_requests` (that
   * token has enough streams open here), past the process's cap with 503 `unavailable` (another
   * API process may have room). Every kind of stream counts against the same caps: they share the
   * process's sockets and memory.
   */
  lease(tokenId: string): StreamLease {
    const ofToken = this.#perToken.get(tokenId) ?? 0;
    if (ofToken >= this.#options.maxStreamsPerToken) {
      throw new AppError('too_many_requests', `this token has ${ofToken} event streams open on this API process, the most it may; close one (or use another token)`, { limit: this.#options.maxStreamsPerToken, scope: 'token' });
    }
    if (this.#streams >= this.#options.maxStreams) {
      throw new AppError('unavailable', `this API process serves ${this.#streams} event streams, the most it may; retry later or elsewhere`, { limit: this.#options.maxStreams, scope: 'process' });
    }
    this.#streams += 1;
    this.#perToken.set(tokenId, ofToken + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#streams -= 1;
        const left = (this.#perToken.get(tokenId) ?? 1) - 1;
        if (left === 0) this.#perToken.delete(tokenId);
        else this.#perToken.set(tokenId, left);
      },
    };
  }

  /**
   * The id of the newest committed event: the starting point of a stream without a resume point.
   * Asked of the database, not taken from the reader, which learns of a commit only a moment later:
   * an event committed before the request must not be sent as news. (A client that reconnects sends
   * Last-Event-ID and needs no query.)
   */
  async newestId(): Promise<number> {
    return latestOutboxId(this.#options.db);
  }

  /**
   * Up to `limit` frames after `after`, oldest first: from the buffer when it covers `after`,
   * otherwise a page read from the database (a stream catching up from long ago).
   */
  async framesAfter(after: number, limit = BATCH_SIZE): Promise<EventFrame[]> {
    // Streams opened together while the reader is starting wait for its first read instead of each
    // reading the database.
    if (this.#head === undefined && this.#running) await this.#headKnown;
    const head = this.#head;
    if (head !== undefined && after >= this.#floor) {
      if (after >= head) return [];
      const frames: EventFrame[] = [];
      for (let index = this.#firstAfter(after); index < this.#frames.length && frames.length < limit; index += 1) frames.push(this.#frames[index]!);
      return frames;
    }
    this.#reads += 1;
    return (await readOutboxAfter(this.#options.db, after, limit)).map(frameOf);
  }

  /** Resolves when events newer than `seen` (a generation) arrive, after `timeoutMs`, or when the tail closes. */
  wait(seen: number, timeoutMs: number): Promise<void> {
    return this.#wakeup.wait(seen, timeoutMs);
  }

  #firstAfter(after: number): number {
    let low = this.#start;
    let high = this.#frames.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#frames[middle]!.id <= after) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #ensureRunning(): void {
    if (this.#running || this.#closed) return;
    this.#headKnown = new Promise((resolve) => {
      this.#markHeadKnown = resolve;
    });
    this.#unsubscribe = this.#options.changeFeed?.subscribe((notice) => {
      if (notice === null || this.#head === undefined || notice.seq > this.#head) this.#notices.wake();
    });
    this.#running = this.#run().finally(() => {
      this.#markHeadKnown();
      this.#running = undefined;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
    });
  }

  async #run(): Promise<void> {
    const pollMs = this.#options.pollMs ?? (this.#options.changeFeed ? 5_000 : 1_000);
    let failures = 0;
    while (!this.#closed && this.#following > 0) {
      const seen = this.#notices.generation;
      let read = 0;
      try {
        if (this.#head === undefined) {
          this.#reads += 1;
          this.#head = await latestOutboxId(this.#options.db);
          this.#floor = this.#head;
          this.#markHeadKnown();
        }
        this.#reads += 1;
        const events = await readOutboxAfter(this.#options.db, this.#head, BATCH_SIZE);
        read = events.length;
        for (const event of events) this.#append(frameOf(event));
        if (read > 0) this.#wakeup.wake();
        failures = 0;
      } catch (error) {
        failures += 1;
        if (failures === 1) this.#options.log.warn({ err: error }, 'the event streams cannot read the outbox; they wait and retry');
      }
      if (read < BATCH_SIZE) await this.#notices.wait(seen, failures > 0 ? Math.min(pollMs, 1_000) : pollMs);
    }
    // No stream is left: what the buffer held is of no use to the next one, which starts from its own point.
    this.#frames = [];
    this.#start = 0;
    this.#bytes = 0;
    this.#head = undefined;
  }

  #append(frame: EventFrame): void {
    this.#frames.push(frame);
    this.#bytes += frame.text.length;
    this.#head = frame.id;
    const limit = this.#options.bufferBytes ?? 4 * 1024 * 1024;
    while (this.#bytes > limit && this.#start < this.#frames.length - 1) {
      const dropped = this.#frames[this.#start]!;
      this.#bytes -= dropped.text.length;
      this.#floor = dropped.id;
      this.#start += 1;
    }
    if (this.#start > 1_024 && this.#start * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#start);
      this.#start = 0;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#notices.wake();
    this.#wakeup.wake();
    await this.#running;
  }
}
