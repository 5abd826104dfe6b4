import type { DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';

export interface RunningDispatcher {
  stop(): Promise<void>;
}

// Placeholder while webhook delivery is being built.
export function startWebhookDispatcher(_options: { db: DatabasePool; log: Logger }): RunningDispatcher {
  return { stop: async () => {} };
}
