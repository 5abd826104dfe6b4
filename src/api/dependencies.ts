import type { DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';
import type { Authenticator } from './auth.ts';
import type { HealthDependencies } from './health.ts';

/** What the API's routes are built from; the composition root (start-api.ts, or a test) owns each part. */
export interface ApiDependencies {
  log: Logger;
  db: DatabasePool;
  authenticator: Authenticator;
  health: HealthDependencies;
  /** Largest accepted JSON body; larger ones are a validation_error. */
  maxBodyBytes?: number;
  /** Largest page a list endpoint returns. */
  maxPageSize?: number;
}
