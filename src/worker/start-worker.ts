import { APPEND_SWEEP_INTERVAL_MS, startAppendSweep } from '../data/append-sequencer.ts';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { DEFAULT_RECONCILE_INTERVAL_MS, DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS, DEFAULT_TEMPORAL_CALL_TIMEOUT_MS } from '../config.ts';
import type { AuditCheckpointStore } from '../data/audit-checkpoints.ts';
import type { AuditSigner } from '../data/audit-signer.ts';
import { createDatabasePool } from '../data/pool.ts';
import { createChangeFeed } from '../events/change-feed.ts';
import { startWebhookDispatcher } from '../events/webhook-dispatcher.ts';
import type { Logger } from '../log.ts';
import { openTemporalConnection } from '../open-temporal-connection.ts';
import { createOutboundClient, type OutboundClient } from '../outbound/outbound-client.ts';
import type { OutboundPolicy } from '../outbound/outbound-policy.ts';
import type { SnapshotSigner } from '../snapshots/signing-key.ts';
import type { SnapshotStore } from '../snapshots/snapshot-store.ts';
import { ensureAuditCheckpointSchedule } from './audit-checkpoint-schedule.ts';
import { ensureRetentionSchedule, type RetentionScheduleSettings } from './retention-schedule.ts';
import { ensureStaleReportSchedule } from './stale-report-schedule.ts';
import { startSnapshotTrigger } from './snapshot-trigger.ts';
import { installTemporalRuntime } from './temporal-runtime.ts';
import { startWorkflowReconciler } from './workflow-reconciler.ts';

export const WORKFLOWS_PATH = new URL('../workflows/index.ts', import.meta.url).pathname;

export interface RunningWorker {
  stop(): Promise<void>;
}

/**
 * Composition root of a worker process: connects to Temporal, opens the database pool for the
 * activities, polls the task queue until stopped, and runs the reconciler (and, with `snapshots`,
 * the snapshot trigger; with `auditCheckpoints`, their schedule) on a Temporal client of its own.
 * Resolves once the worker is polling.
 */
export async function startWorker(options: {
  databaseUrl: string;
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  log: Logger;
  /** Which non-public addresses rollout gates and webhooks may reach. */
  outboundPolicy: OutboundPolicy;
  /** A client to reach them with instead of one made from the policy (a test's, resolving names its own way). */
  outbound?: OutboundClient;
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
  /** How long the reconciler's (and the trigger's) Temporal calls wait; 3 s unless configured. */
  temporalCallTimeoutMs?: number;
  reconcileIntervalMs?: number;
  snapshotSignalIntervalMs?: number;
  /** Purges long-archived flags and cleans up what finished long ago (its daily schedule) when given. */
  retention?: RetentionScheduleSettings & { scheduleId?: string };
  /** Announces stale flags per owner (its weekly schedule) when given. */
  staleReport?: { unevaluatedDays: number; singleValueDays: number; scheduleId?: string };
}): Promise<RunningWorker> {
  installTemporalRuntime(options.log, options.log.level);
  const db = await createDatabasePool(options.databaseUrl, { auditSigner: options.auditSigner, applicationName: 'flags-worker', writeTimeoutMs: options.writeTimeoutMs });
  // The client side: the reconciler, the checkpoint schedule and the signals to the snapshot publisher.
  const clientConnection = openTemporalConnection(options.temporalAddress);
  const client = new Client({ connection: clientConnection, namespace: options.temporalNamespace });
  if (options.auditCheckpoints) {
    try {
      const scheduleId = await ensureAuditCheckpointSchedule(client, { taskQueue: options.taskQueue, intervalSeconds: options.auditCheckpoints.intervalSeconds, ...(options.auditCheckpoints.scheduleId ? { scheduleId: options.auditCheckpoints.scheduleId } : {}) });
      options.log.info({ scheduleId, everySeconds: options.auditCheckpoints.intervalSeconds, store: options.auditCheckpoints.store.location }, 'audit log checkpoints scheduled');
    } catch (error) {
      await clientConnection.close();
      await db.end();
      throw error;
    }
  }
  if (options.retention || options.staleReport) {
    try {
      if (options.retention) {
        const scheduleId = await ensureRetentionSchedule(client, { taskQueue: options.taskQueue, ...options.retention });
        options.log.info({ ...options.retention, scheduleId }, 'retention of archived flags and clean-up scheduled');
      }
      if (options.staleReport) {
        const { scheduleId: id, ...stale } = options.staleReport;
        const scheduleId = await ensureStaleReportSchedule(client, { taskQueue: options.taskQueue, stale, ...(id ? { scheduleId: id } : {}) });
        options.log.info({ scheduleId, ...stale }, 'weekly stale-flag report scheduled');
      }
    } catch (error) {
      await clientConnection.close();
      await db.end();
      throw error;
    }
  }
  const connection = await NativeConnection.connect({ address: options.temporalAddress });
  const outbound = options.outbound ?? createOutboundClient({ policy: options.outboundPolicy });
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
  const stopAppendSweep = startAppendSweep(db, { log: options.log, intervalMs: APPEND_SWEEP_INTERVAL_MS });
  const changeFeed = createChangeFeed({ databaseUrl: options.databaseUrl, log: options.log });
  const reconciler = startWorkflowReconciler({
    db,
    log: options.log,
    temporal: { client, namespace: options.temporalNamespace, taskQueue: options.taskQueue, callTimeoutMs: options.temporalCallTimeoutMs ?? DEFAULT_TEMPORAL_CALL_TIMEOUT_MS },
    changeFeed,
    intervalMs: options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS,
  });
  const snapshotTrigger = options.snapshots
    ? startSnapshotTrigger({
        client,
        taskQueue: options.taskQueue,
        changeFeed,
        log: options.log,
        minIntervalMs: options.snapshotSignalIntervalMs ?? DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS,
        callTimeoutMs: options.temporalCallTimeoutMs ?? DEFAULT_TEMPORAL_CALL_TIMEOUT_MS,
      })
    : undefined;
  return {
    async stop() {
      stopAppendSweep();
      snapshotTrigger?.stop();
      await reconciler.stop();
      await changeFeed.close();
      await clientConnection.close();
      await dispatcher.stop();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
      await db.end();
    },
  };
}
