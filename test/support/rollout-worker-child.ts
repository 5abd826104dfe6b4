// A rollout worker in a process of its own (see startChildWorker): the test kills it with SIGKILL.
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities/index.ts';
import { createDatabasePool } from '../../src/data/pool.ts';
import { createLogger } from '../../src/log.ts';
import { createOutboundClient } from '../../src/outbound/outbound-client.ts';
import { parseOutboundAllowList } from '../../src/outbound/outbound-policy.ts';
import { installTemporalRuntime } from '../../src/worker/temporal-runtime.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { testAuditSigner } from './database.ts';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'child-worker');
installTemporalRuntime(log, process.env.LOG_LEVEL ?? 'warn');
const db = await createDatabasePool(requireEnv('CHILD_DATABASE_URL'), { auditSigner: testAuditSigner() });
const connection = await NativeConnection.connect({ address: requireEnv(ENV.temporalAddress) });
const worker = await Worker.create({
  connection,
  namespace: requireEnv(ENV.temporalNamespace),
  taskQueue: requireEnv('CHILD_TASK_QUEUE'),
  workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) },
  activities: createActivities({ db, log, outbound: createOutboundClient({ policy: parseOutboundAllowList(process.env.FLAGS_OUTBOUND_ALLOW) }) }),
});
process.once('SIGTERM', () => worker.shutdown());
const running = worker.run();
process.stdout.write('worker polling\n');
await running;
await connection.close();
await db.end();
