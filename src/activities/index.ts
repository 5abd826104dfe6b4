import type { DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';
import { createChangeActivities } from './change-activities.ts';
import { createRolloutActivities } from './rollout-activities.ts';
import type { FetchFunction } from './rollout-gates.ts';

export interface ActivityDependencies {
  db: DatabasePool;
  log: Logger;
  /** What rollout gates probe with (HTTP, Prometheus); the global fetch when absent. */
  fetch?: FetchFunction;
}

/**
 * Every activity the worker registers, closed over its dependencies (the Temporal
 * dependency-injection pattern); workflows proxy `ReturnType<typeof createActivities>`.
 */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createRolloutActivities(deps),
    ...createChangeActivities(deps),
  };
}
