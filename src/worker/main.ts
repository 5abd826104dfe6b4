// A worker process on external parts (production, docker-compose); scale out by running more.
import { createServer } from 'node:http';
import { join } from 'node:path';
import { register, Registry } from 'prom-client';
import { loadConfig } from '../config.ts';
import { AUDIT_CHECKPOINTS_DIR, createFolderCheckpointStore } from '../data/audit-checkpoints.ts';
import { loadAuditSigner } from '../data/audit-signer.ts';
import { createLogger } from '../log.ts';
import { describePolicy, parseOutboundAllowList } from '../outbound/outbound-policy.ts';
import { snapshotPublishing } from '../snapshots/snapshot-publishing.ts';
import { startTracing } from '../tracing.ts';
import { evaluationCountsRetentionDays } from './retention-schedule.ts';
import { startWorker } from './start-worker.ts';
import { openWorkerStatusMetrics } from './worker-status-metrics.ts';

const config = loadConfig();
const log = createLogger(config.logLevel, 'worker');
if (!config.databaseUrl || !config.temporalAddress) {
  log.fatal('DATABASE_URL and TEMPORAL_ADDRESS are required for a standalone worker (npm start runs the embedded default)');
  process.exit(1);
}
const tracing = await startTracing(process.env, log, 'flags-worker');
const outboundPolicy = parseOutboundAllowList(config.outboundAllow);
log.info(`rollout gates and webhooks may reach public addresses${outboundPolicy.allow.length ? ` and ${describePolicy(outboundPolicy)}` : ' only'} (FLAGS_OUTBOUND_ALLOW)`);
const worker = await startWorker({
  outboundPolicy,
  databaseUrl: config.databaseUrl,
  temporalAddress: config.temporalAddress,
  temporalNamespace: config.temporalNamespace,
  taskQueue: config.taskQueue,
  snapshots: snapshotPublishing(config),
  auditSigner: loadAuditSigner({ pem: config.auditSigningKey, dataDir: config.dataDir }),
  auditCheckpoints: { store: createFolderCheckpointStore(join(config.dataDir, AUDIT_CHECKPOINTS_DIR)), intervalSeconds: config.auditCheckpointSeconds },
  writeTimeoutMs: config.writeTimeoutMs,
  temporalCallTimeoutMs: config.temporalCallTimeoutMs,
  reconcileIntervalMs: config.reconcileIntervalMs,
  snapshotSignalIntervalMs: config.snapshotSignalIntervalMs,
  retention: {
    archiveRetentionDays: config.archiveRetentionDays,
    cleanupAfterDays: config.cleanupAfterDays,
    auditCompressAfterDays: config.auditCompressAfterDays,
    evaluationCountsDays: evaluationCountsRetentionDays(config.staleSingleValueDays),
    analyticsEventsDays: config.analyticsEventsKeptDays,
  },
  staleReport: { unevaluatedDays: config.staleUnevaluatedDays, singleValueDays: config.staleSingleValueDays },
  log,
});
log.info({ taskQueue: config.taskQueue }, 'worker polling');
// The launcher waits for this message before it counts the worker as started.
process.send?.({ ready: true });
// What the activities count (the process-wide registry), and the service's state read at each scrape.
const metricsPort = config.workerMetricsPort;
const status =
  metricsPort === undefined
    ? undefined
    : await openWorkerStatusMetrics({
        databaseUrl: config.databaseUrl, temporalAddress: config.temporalAddress, namespace: config.temporalNamespace, taskQueue: config.taskQueue, log,
        stale: { unevaluatedDays: config.staleUnevaluatedDays, singleValueDays: config.staleSingleValueDays },
      });
const metricsServer =
  metricsPort === undefined || status === undefined
    ? undefined
    : createServer((request, response) => {
        if (request.url !== '/metrics') {
          response.writeHead(404).end();
          return;
        }
        const metrics = Registry.merge([register, status.registry]);
        void metrics.metrics().then((text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(text));
      }).listen(metricsPort, config.host, () => log.info({ port: metricsPort }, 'worker metrics at /metrics'));
// A terminal's Ctrl-C reaches this process and the launcher's SIGTERM follows: stop once.
let stopping: Promise<void> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    log.info(`${signal} received, draining`);
    metricsServer?.close();
    stopping = worker.stop().then(async () => {
      await status?.close();
      await tracing?.stop();
      process.exit(0);
    });
  });
}
