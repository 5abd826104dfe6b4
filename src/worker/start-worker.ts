import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { createDatabasePool } from '../data/pool.ts';
import { startWebhookDispatcher } from '../events/webhook-dispatcher.ts';
import type { Logger } from '../log.ts';
import { installTemporalRuntime } from './temporal-runtime.ts';

export const WORKFLOWS_PATH = new URL('../workflows/index.ts', import.meta.url).pathname;

export interface RunningWorker {
  stop(): Promise<void>;
}

/**
 * Composition root of a worker process: connects to Temporal, opens the database pool for the
 * activities, and polls the task queue until stopped. Resolves once the worker is polling.
 */
export async function startWorker(options: {
  databaseUrl: string;
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  log: Logger;
  /** A prebuilt bundle (tests share one); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
}): Promise<RunningWorker> {
  installTemporalRuntime(options.log, options.log.level);
  const db = await createDatabasePool(options.databaseUrl);
  const connection = await NativeConnection.connect({ address: options.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: options.temporalNamespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ db, log: options.log }),
    // A worker that died is noticed after this long and its workflows move to another; the SDK's
    // default of 10 s would make a rollout step that falls due meanwhile 10 s late.
    stickyQueueScheduleToStartTimeout: '2s',
  });
  const running = worker.run();
  running.catch((error: unknown) => options.log.error({ err: error }, 'worker stopped with an error'));
  const dispatcher = startWebhookDispatcher({ db, log: options.log });
  return {
    async stop() {
      await dispatcher.stop();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
      await db.end();
    },
  };
}
