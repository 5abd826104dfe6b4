import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const requestScope = new AsyncLocalStorage<{ requestId: string }>();
const NO_FIELDS = {};

/** Runs `work` with `requestId` attached to every line any logger writes meanwhile (and in what it starts). */
export function withRequestId<T>(requestId: string, work: () => T): T {
  return requestScope.run({ requestId }, work);
}

/** A logger to stdout, or to `destination` (a test reading the lines). */
export function createLogger(level: string, name = 'flags', destination?: DestinationStream): Logger {
  return pino({ name, level, mixin: () => requestScope.getStore() ?? NO_FIELDS }, destination);
}
