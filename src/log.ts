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
  return pino({ name, level, mixin: () => requestScope.getStore() ?? NO_FIELDS, mixinMergeStrategy: mergeWithoutMutating }, destination);
}

/**
 * pino's default merge is `Object.assign(mixin, fields)`: it would write every line's fields into the
 * shared empty object (and into the request's scope), so each later line carried all earlier ones.
 * Outside a request the line's own fields are the whole line, with no copy.
 */
function mergeWithoutMutating(fields: object, mixin: object): object {
  return mixin === NO_FIELDS ? fields : { ...mixin, ...fields };
}
