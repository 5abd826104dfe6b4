import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { AuditCheckpointStore } from '../data/audit-checkpoints.ts';
import type { AuditSigner } from '../data/audit-signer.ts';
import { createDatabasePool } from '../data/pool.ts';
import { createChangeFeed } from '../events/change-feed.ts';
import { startWebhookDispatcher } from '../events/webhook-dispatcher.ts';
import type { Logger } from '../log.ts';
import { createOutboundClient } from '../outbound/outbound-client.ts';
import type { OutboundPolicy } from '../outbound/outbound-policy.ts';
import type { SnapshotSigner } from '../snapshots/signing-key.ts';
import type { SnapshotStore } from '../snapshots/snapshot-store.ts';
import { ensureAuditCheckpointSchedule } from './audit-checkpoint-schedule.ts';
import { startSnapshotTrigger } from './snapshot-trigger.ts';
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
  /** Which non-public addresses rollout gates and webhooks may reach. */
  outboundPolicy: OutboundPolicy;
  /** A prebuilt bundle (tests share one); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  /** Publishes signed snapshots (the publisher workflow and its trigger) when given. */
  snapshots?: { signer: SnapshotSigner; store: SnapshotStore };
  /** Signs every audit entry the activities write. */
  auditSigner: AuditSigner;
  /** Checkpoints the audit log (its schedule and activity) when given. */
  auditCheckpoints?: { store: AuditCheckpointStore; intervalSeconds: number; scheduleId?: string };
  /** The deadline of an activity's write (FLAGS_WRITE_TIMEOUT_MS); a timed-out activity is retried. */
  writeTimeoutMs?: number;
}): Promise<RunningWorker> {
  installTemporalRuntime(options.log, options.log.level);
  const db = await createDatabasePool(options.databaseUrl, { auditSigner: options.auditSigner, applicationName: 'flags-worker', writeTimeoutMs: options.writeTimeoutMs });
  // The client side (signals to the snapshot publisher, the checkpoint schedule), when either is wanted.
  const clientConnection = options.snapshots || options.auditCheckpoints ? await Connection.connect({ address: options.temporalAddress }) : undefined;
  const client = clientConnection ? new Client({ connection: clientConnection, namespace: options.temporalNamespace }) : undefined;
  if (client && options.auditCheckpoints) {
    try {
      const scheduleId = await ensureAuditCheckpointSchedule(client, { taskQueue: options.taskQueue, intervalSeconds: options.auditCheckpoints.intervalSeconds, ...(options.auditCheckpoints.scheduleId ? { scheduleId: options.auditCheckpoints.scheduleId } : {}) });
      options.log.info({ scheduleId, everySeconds: options.auditCheckpoints.intervalSeconds, store: options.auditCheckpoints.store.location }, 'audit log checkpoints scheduled');
    } catch (error) {
      await clientConnection?.close();
      await db.end();
      throw error;
    }
  }
  const connection = await NativeConnection.connect({ address: options.temporalAddress });
  const outbound = createOutboundClient({ policy: options.outboundPolicy });
  const worker = await Worker.create({
    connection,
    namespace: options.temporalNamespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({
      db,
      log: options.log,
      outbound,
      ...(options.snapshots ? { snapshots: options.snapshots } : {}),
      ...(options.auditCheckpoints ? { auditCheckpoints: { signer: options.auditSigner, checkpoints: options.auditCheckpoints.store } } : {}),
    }),
    // A worker that died is noticed after this long and its workflows move to another; the SDK's
    // default of 10 s would make a rollout step that falls due meanwhile 10 s late.
    stickyQueueScheduleToStartTimeout: '2s',
  });
  const running = worker.run();
  running.catch((error: unknown) => options.log.error({ err: error }, 'worker stopped with an error'));
  const dispatcher = startWebhookDispatcher({ db, log: options.log, outbound });
  let snapshotTrigger: { stop(): void; close(): Promise<void> } | undefined;
  if (client && options.snapshots) {
    const changeFeed = createChangeFeed({ databaseUrl: options.databaseUrl, log: options.log });
    const trigger = startSnapshotTrigger({ client, taskQueue: options.taskQueue, changeFeed, log: options.log });
    snapshotTrigger = { stop: trigger.stop, close: () => changeFeed.close() };
  }
  return {
    async stop() {
      snapshotTrigger?.stop();
      await snapshotTrigger?.close();
      await clientConnection?.close();
      await dispatcher.stop();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
      await db.end();
    },
  };
}
