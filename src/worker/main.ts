// A worker process on external parts (production, docker-compose); scale out by running more.
import { loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { startWorker } from './start-worker.ts';

const config = loadConfig();
const log = createLogger(config.logLevel, 'worker');
if (!config.databaseUrl || !config.temporalAddress) {
  log.fatal('DATABASE_URL and TEMPORAL_ADDRESS are required for a standalone worker (npm start runs the embedded default)');
  process.exit(1);
}
const worker = await startWorker({
  databaseUrl: config.databaseUrl,
  temporalAddress: config.temporalAddress,
  temporalNamespace: config.temporalNamespace,
  taskQueue: config.taskQueue,
  log,
});
log.info({ taskQueue: config.taskQueue }, 'worker polling');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log.info(`${signal} received, draining`);
    void worker.stop().then(() => process.exit(0));
  });
}
