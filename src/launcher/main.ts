// `npm start`: the whole service on its embedded default — PostgreSQL, the Temporal dev server with
// its Web UI, the worker and the API — or on external ones when DATABASE_URL / TEMPORAL_ADDRESS say so.
import { resolveAdminToken } from '../api/admin-token.ts';
import { edgeOptions, startApi } from '../api/start-api.ts';
import { loadConfig } from '../config.ts';
import { migrate } from '../data/migrate.ts';
import { createLogger } from '../log.ts';
import { describePolicy, LOOPBACK_ALLOW_LIST, parseOutboundAllowList } from '../outbound/outbound-policy.ts';
import { snapshotPublishing } from '../snapshots/snapshot-publishing.ts';
import { startTracing } from '../tracing.ts';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import { findTemporalCli } from './temporal-cli.ts';
import { startServiceProcess } from './service-process.ts';
import { startTemporalDevServer } from './temporal-dev-server.ts';

const config = loadConfig();
const log = createLogger(config.logLevel, 'launcher');
const started = performance.now();

/** Stop functions of what is running, in start order; stopped in reverse. */
const running: { name: string; stop: () => Promise<void> }[] = [];
let stopping: Promise<void> | undefined;

function stopAll(exitCode: number): Promise<void> {
  stopping ??= (async () => {
    for (const part of running.reverse()) {
      try {
        await part.stop();
        log.info(`stopped ${part.name}`);
      } catch (error) {
        log.error({ err: error }, `stopping ${part.name} failed`);
      }
    }
    process.exit(exitCode);
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    log.info(`${signal} received, stopping`);
    void stopAll(0);
  });
}

try {
  const tracing = await startTracing(process.env, log, 'flags');
  if (tracing) running.push({ name: 'tracing', stop: tracing.stop });
  let databaseUrl = config.databaseUrl;
  let migrationDatabaseUrl = config.migrationDatabaseUrl;
  if (!databaseUrl) {
    const postgres = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.pgPort, log });
    running.push({ name: 'PostgreSQL', stop: postgres.stop });
    databaseUrl = postgres.databaseUrl;
    migrationDatabaseUrl = postgres.migrationDatabaseUrl;
    log.info(`embedded PostgreSQL on port ${config.pgPort}, data in ${config.dataDir}/postgres`);
  }
  await migrate({ databaseUrl: migrationDatabaseUrl ?? databaseUrl, log });

  let temporalAddress = config.temporalAddress;
  let temporalUiUrl = config.temporalUiUrl;
  if (!temporalAddress) {
    const cliPath = findTemporalCli(process.env, (message) => log.info(message));
    const temporal = await startTemporalDevServer({
      cliPath,
      dataDir: config.dataDir,
      port: config.temporalPort,
      uiPort: config.temporalUiPort,
      namespace: config.temporalNamespace,
      log,
    });
    running.push({ name: 'Temporal dev server', stop: temporal.stop });
    temporalAddress = temporal.address;
    temporalUiUrl ??= temporal.uiUrl;
  }

  // A local Prometheus or webhook receiver is the usual first gate on a developer's machine, so the
  // embedded default lets gates and webhooks reach loopback unless the operator says otherwise.
  const outboundAllow = config.outboundAllow ?? LOOPBACK_ALLOW_LIST;
  const outboundPolicy = parseOutboundAllowList(outboundAllow);
  if (config.outboundAllow === undefined) {
    log.warn(`FLAGS_OUTBOUND_ALLOW is unset: on the embedded default, rollout gates and webhooks may reach loopback (${LOOPBACK_ALLOW_LIST}) as well as public addresses; set FLAGS_OUTBOUND_ALLOW=none to refuse them`);
  }

  // The worker and any extra API processes run as children of this one, which serves the first API:
  // the worker's polling and activities never share an event loop with evaluations. They get the
  // application's role only: the owner's URL stays in this process.
  const { FLAGS_MIGRATION_DATABASE_URL: _ownerUrl, ...inherited } = process.env;
  const childEnv = {
    ...inherited,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    FLAGS_DATA_DIR: config.dataDir,
    FLAGS_OUTBOUND_ALLOW: outboundAllow,
    ...(temporalUiUrl ? { TEMPORAL_UI_URL: temporalUiUrl } : {}),
  };
  const onUnexpectedExit = (name: string) => (code: number | null) => {
    log.error(`the ${name} process exited unexpectedly (code ${code}); stopping the service`);
    void stopAll(1);
  };
  const worker = await startServiceProcess({ kind: 'worker', env: childEnv, log, onUnexpectedExit: onUnexpectedExit('worker') });
  running.push({ name: 'worker', stop: worker.stop });

  const adminToken = resolveAdminToken(config);
  const api = await startApi({
    databaseUrl,
    snapshotStore: snapshotPublishing(config).store,
    writeTimeoutMs: config.writeTimeoutMs,
    eventStreams: config.eventStreams,
    archiveRetentionDays: config.archiveRetentionDays,
    cleanupAfterDays: config.cleanupAfterDays,
    insightsFlushSeconds: config.insightsFlushSeconds,
    stale: { unevaluatedDays: config.staleUnevaluatedDays, singleValueDays: config.staleSingleValueDays },
    temporalAddress,
    temporalNamespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    temporalCallTimeoutMs: config.temporalCallTimeoutMs,
    dataDir: config.dataDir,
    ...(config.snapshotSigningKey ? { snapshotSigningKeyPem: config.snapshotSigningKey } : {}),
    ...(config.auditSigningKey ? { auditSigningKeyPem: config.auditSigningKey } : {}),
    ...(temporalUiUrl ? { temporalUiUrl } : {}),
    host: config.host,
    port: config.port,
    adminToken: adminToken.secret,
    reusePort: config.apiProcesses > 1,
    outboundPolicy,
    edge: edgeOptions(config),
    identityProvider: config.identityProvider,
    log,
  });
  running.push({ name: 'API', stop: api.stop });
  // More API processes on the same port (SO_REUSEPORT): the kernel spreads connections over them,
  // so evaluation uses every core. Each has its own pool, LISTEN feed and compiled set.
  for (let index = 1; index < config.apiProcesses; index += 1) {
    const child = await startServiceProcess({
      kind: 'api',
      env: { ...childEnv, FLAGS_ADMIN_TOKEN: adminToken.secret },
      log,
      onUnexpectedExit: onUnexpectedExit(`API process ${index + 1}`),
    });
    running.push({ name: `API process ${index + 1}`, stop: child.stop });
  }

  const tokenHint =
    adminToken.source === 'env' ? 'the value of FLAGS_ADMIN_TOKEN' : `cat ${adminToken.path}`;
  process.stdout.write(
    [
      '',
      `  Feature-flag service ready in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      `  API          ${api.url}   (health: ${api.url}/health)`,
      `  Console      ${api.url}/ui/   (sign in with a token)`,
      `  Temporal UI  ${temporalUiUrl ?? '(external Temporal: set TEMPORAL_UI_URL to print it)'}`,
      `  Temporal     ${temporalAddress}, namespace ${config.temporalNamespace}, task queue ${config.taskQueue}`,
      `  Admin token  ${tokenHint}`,
      `  Outbound     gates and webhooks reach public addresses${outboundPolicy.allow.length ? ` and ${describePolicy(outboundPolicy)}` : ' only'} (FLAGS_OUTBOUND_ALLOW)`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n') + '\n',
  );
} catch (error) {
  log.error({ err: error }, `start-up failed: ${error instanceof Error ? error.message : String(error)}`);
  await stopAll(1);
}
