import { Context } from '@temporalio/activity';

/**
 * How often a running activity says it is alive. The SDK sends at most one heartbeat per 80 % of
 * the activity's heartbeat timeout, so this only has to be shorter than that; an activity that ends
 * sooner (almost every step) sends none.
 */
const HEARTBEAT_INTERVAL_MS = 500;

/**
 * Runs an activity's work while heartbeating, so that Temporal notices a worker lost in the middle
 * of it within the activity's heartbeat timeout (seconds) and retries it on another worker, instead
 * of waiting out the start-to-close timeout. The work itself must be safe to run again (it is:
 * every rollout write is idempotent by its sequence number).
 */
export async function withHeartbeat<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), HEARTBEAT_INTERVAL_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
