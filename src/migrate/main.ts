// The migration process (a Kubernetes Job, a CI step): applies the pending migrations as the owner
// role (FLAGS_MIGRATION_DATABASE_URL, else DATABASE_URL) and exits 0, or exits 1 saying why. The API
// and the worker then run as the application's role, which may not change the schema.
import { loadConfig } from '../config.ts';
import { migrate } from '../data/migrate.ts';
import { createLogger } from '../log.ts';

const config = loadConfig();
const log = createLogger(config.logLevel, 'migrate');
const databaseUrl = config.migrationDatabaseUrl ?? config.databaseUrl;
if (!databaseUrl) {
  log.fatal('FLAGS_MIGRATION_DATABASE_URL (the owner role) or DATABASE_URL is required');
  process.exit(1);
}
try {
  const applied = await migrate({ databaseUrl, log });
  log.info({ applied }, applied.length ? `${applied.length} migration(s) applied` : 'no migration pending');
  process.exit(0);
} catch (error) {
  const refused = (error as { code?: string }).code === '42501' && !config.migrationDatabaseUrl;
  const hint = refused ? " (DATABASE_URL is the application's role, which may not change the schema: set FLAGS_MIGRATION_DATABASE_URL to the owner's)" : '';
  log.fatal({ err: error }, `migrating failed: ${error instanceof Error ? error.message : String(error)}${hint}`);
  process.exit(1);
}
