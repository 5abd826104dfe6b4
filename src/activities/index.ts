import type { DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';

export interface ActivityDependencies {
  db: DatabasePool;
  log: Logger;
}

/**
 * Every activity the worker registers, closed over its dependencies (the Temporal
 * dependency-injection pattern); workflows proxy `ReturnType<typeof createActivities>`.
 */
export function createActivities(_deps: ActivityDependencies) {
  return {};
}
