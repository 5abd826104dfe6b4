// The service's worker in a process of its own (see startChildWorker): the test kills it with SIGKILL.
import { createLogger } from '../../src/log.ts';
import { parseOutboundAllowList } from '../../src/outbound/outbound-policy.ts';
import { startWorker } from '../../src/worker/start-worker.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { testAuditSigner } from './database.ts';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'child-worker');
const worker = await startWorker({
  databaseUrl: requireEnv('CHILD_DATABASE_URL'),
  temporalAddress: requireEnv('CHILD_TEMPORAL_ADDRESS'),
  temporalNamespace: requireEnv('CHILD_TEMPORAL_NAMESPACE'),
  taskQueue: requireEnv('CHILD_TASK_QUEUE'),
  workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) },
  outboundPolicy: parseOutboundAllowList(process.env.FLAGS_OUTBOUND_ALLOW),
  auditSigner: testAuditSigner(),
  ...(process.env.CHILD_WRITE_TIMEOUT_MS ? { writeTimeoutMs: Number(process.env.CHILD_WRITE_TIMEOUT_MS) } : {}),
  log,
});
process.once('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
process.stdout.write('worker polling\n');
