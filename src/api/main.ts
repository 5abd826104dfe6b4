// An API process on external parts (production, docker-compose): DATABASE_URL and TEMPORAL_ADDRESS
// are required; migrations are applied before serving (idempotent, serialised by an advisory lock) as
// the owner role of FLAGS_MIGRATION_DATABASE_URL, or checked as DATABASE_URL's role when it is unset;
// when PostgreSQL is down at start, once it answers: meanwhile the last published snapshot serves.
import { loadConfig } from '../config.ts';
import { migrate } from '../data/migrate.ts';
import { createLogger } from '../log.ts';
import { parseOutboundAllowList } from '../outbound/outbound-policy.ts';
import { snapshotPublishing } from '../snapshots/snapshot-publishing.ts';
import { startTracing } from '../tracing.ts';
import { resolveAdminToken } from './admin-token.ts';
import { edgeOptions, startApi } from './start-api.ts';

const config = loadConfig();
const log = createLogger(config.logLevel, 'api');
if (!config.databaseUrl || !config.temporalAddress) {
  log.fatal('DATABASE_URL and TEMPORAL_ADDRESS are required for a standalone API process (npm start runs the embedded default)');
  process.exit(1);
}
const tracing = await startTracing(process.env, log, 'flags-api');
const migrationDatabaseUrl = config.migrationDatabaseUrl ?? config.databaseUrl;
const api = await startApi({
  databaseUrl: config.databaseUrl,
  prepareDatabase: () => migrate({ databaseUrl: migrationDatabaseUrl, log }),
  snapshotStore: snapshotPublishing(config).store,
  writeTimeoutMs: config.writeTimeoutMs,
  eventStreams: config.eventStreams,
  archiveRetentionDays: config.archiveRetentionDays,
  cleanupAfterDays: config.cleanupAfterDays,
  insightsFlushSeconds: config.insightsFlushSeconds,
  contextSample: config.contextSample,
  stale: { unevaluatedDays: config.staleUnevaluatedDays, singleValueDays: config.staleSingleValueDays },
  temporalAddress: config.temporalAddress,
  temporalNamespace: config.temporalNamespace,
  taskQueue: config.taskQueue,
  temporalCallTimeoutMs: config.temporalCallTimeoutMs,
  dataDir: config.dataDir,
  ...(config.snapshotSigningKey ? { snapshotSigningKeyPem: config.snapshotSigningKey } : {}),
  ...(config.auditSigningKey ? { auditSigningKeyPem: config.auditSigningKey } : {}),
  ...(config.temporalUiUrl ? { temporalUiUrl: config.temporalUiUrl } : {}),
  host: config.host,
  port: config.port,
  adminToken: resolveAdminToken(config).secret,
  reusePort: config.apiProcesses > 1,
  outboundPolicy: parseOutboundAllowList(config.outboundAllow),
  edge: edgeOptions(config),
  identityProvider: config.identityProvider,
  log,
});
log.info({ url: api.url }, 'API listening');
// The launcher waits for this line before it counts an extra API process as started.
process.send?.({ ready: api.url });
// A terminal's Ctrl-C reaches this process and the launcher's SIGTERM follows: stop once.
let stopping: Promise<void> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    log.info(`${signal} received, stopping`);
    stopping = api.stop().then(async () => {
      await tracing?.stop();
      process.exit(0);
    });
  });
}
