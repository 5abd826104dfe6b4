import { Connection } from '@temporalio/client';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { lastCleanup } from '../data/cleanup.ts';
import { countFlagsByLifecycle } from '../data/insights.ts';
import { activeRolloutStatus, pendingApprovals, rolloutCounts, snapshotPublicationStatus, type ActiveRolloutStatus } from '../data/operations-status.ts';
import { createDatabasePool, type DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';
import { RETENTION_SCHEDULE_ID } from '../workflows/retention-definitions.ts';

/** Unfinished rollouts that get series of their own (by flag); more are counted only in the totals. */
const ROLLOUT_SERIES_LIMIT = 500;

/** temporal.api.enums.v1.TaskQueueType's values (the proto package is not a run-time dependency). */
const TASK_QUEUE_TYPES = [
  ['workflow', 1],
  ['activity', 2],
] as const;
/** temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL: the queue itself, not a worker's sticky one. */
const NORMAL_TASK_QUEUE = 1;

export interface WorkerStatusOptions {
  databaseUrl: string;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  log: Logger;
  /** How long one scrape waits for PostgreSQL or Temporal before it reports the part as down. */
  timeoutMs?: number;
  /** When a flag is stale (FLAGS_STALE_*_DAYS); without it, stale flags are not counted. */
  stale?: { unevaluatedDays: number; singleValueDays: number };
}

/**
 * The state of the service as a whole, read when Prometheus scrapes a worker: rollouts (state, step,
 * percentage, how overdue the next step is, why paused), approvals waiting, how far the published
 * snapshot lags the flag set, when the retention run last cleaned up, and the task queue's backlog
 * (what scales the workers) with Temporal's and PostgreSQL's reachability. Read from the database
 * and from Temporal rather than counted by whichever worker ran an activity, so every worker reports
 * the same and a restarted one reports at once. Costs a few small queries and two Temporal calls per scrape, none in between.
 * The process's own metrics (CPU, memory, event loop) are on the same registry.
 */
export async function openWorkerStatusMetrics(options: WorkerStatusOptions): Promise<{ registry: Registry; close(): Promise<void> }> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const db = await createDatabasePool(options.databaseUrl, { maximumPoolSize: 1 });
  const connection = await Connection.connect({ address: options.temporalAddress });
  const registry = new Registry();
  // The worker's own CPU, memory and event loop, as the API reports its own.
  collectDefaultMetrics({ register: registry });
  const refresh = sharedRefresh(() => collect(db, connection, options, timeoutMs, gauges));
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry], collect: refresh });
  const gauges = {
    databaseUp: gauge('flags_worker_database_up', 'Whether this worker reached PostgreSQL at the last scrape (1) or not (0).'),
    temporalUp: gauge('flags_temporal_up', 'Whether this worker reached the Temporal frontend at the last scrape (1) or not (0).'),
    rollouts: gauge('flags_rollouts', 'Unfinished rollouts by state (scheduled, running, paused).', ['state']),
    rolloutsPaused: gauge('flags_rollouts_paused', 'Paused rollouts by cause (manual, gate, conflict, auto_progress, killswitch, flag_unavailable).', ['cause']),
    rolloutStep: gauge('flags_rollout_steps_applied', `Steps applied of each unfinished rollout (the oldest ${ROLLOUT_SERIES_LIMIT}), by flag and state.`, ['flag', 'state']),
    rolloutSteps: gauge('flags_rollout_steps_planned', 'Steps in the plan of each unfinished rollout, by flag.', ['flag']),
    rolloutPercentage: gauge('flags_rollout_percentage', 'The percentage each unfinished rollout last set, by flag (absent before the first step and for distributions).', ['flag']),
    rolloutPaused: gauge('flags_rollout_paused_seconds', 'How long each paused rollout has been paused, by flag and cause (gate, manual, killswitch, auto_progress, conflict, flag_unavailable).', ['flag', 'cause']),
    rolloutOverdue: gauge('flags_rollout_step_overdue_seconds', 'How long the next step of each running rollout is past its target time (0 when not yet due), by flag: schedule drift as it happens.', ['flag']),
    approvalsPending: gauge('flags_approvals_pending', 'Change requests waiting for a second person.'),
    approvalOldestSeconds: gauge('flags_approval_oldest_pending_seconds', 'How long the oldest pending change request has waited (0 when none waits).'),
    snapshotLag: gauge('flags_snapshot_publication_lag_seconds', 'How long the oldest change not yet in a published snapshot has waited (0 when the published snapshot carries every change).'),
    snapshotPublishedVersion: gauge('flags_snapshot_published_version', 'Version (outbox id) of the newest published snapshot (absent before the first).'),
    taskQueueBacklog: gauge('flags_temporal_task_queue_backlog', "Tasks waiting in the worker's task queue, by type (workflow, activity): what the workers scale on.", ['task_queue', 'type']),
    taskQueueBacklogAge: gauge('flags_temporal_task_queue_backlog_age_seconds', 'Age of the oldest task waiting in the task queue, by type.', ['task_queue', 'type']),
    taskQueuePollers: gauge('flags_temporal_task_queue_pollers', 'Workers polling the task queue, by type, as Temporal last saw them.', ['task_queue', 'type']),
    storedFlags: gauge('flags_stored_flags', 'Flags in the database by state (active, archived).', ['state']),
    staleFlags: gauge('flags_stale_flags', 'Active flags that are stale, by reason (not_evaluated, single_value, past_lifetime): see docs/lifecycle.md.', ['reason']),
    // Labelled, so that it is absent (not 0, which would read as "half a century ago") before the first run.
    cleanupCompleted: gauge('flags_retention_cleanup_completed_timestamp_seconds', "When the retention schedule's clean-up last completed, as Unix time (absent before its first run): what keeps the outbox's analytics events, snapshot records and evaluation counts bounded.", ['schedule']),
  };
  return {
    registry,
    async close() {
      await connection.close();
      await db.end();
    },
  };
}

type Gauges = Record<string, Gauge<string>>;

/** Every gauge's collect asks for a refresh; one scrape shares one round of queries. */
function sharedRefresh(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function collect(db: DatabasePool, connection: Connection, options: WorkerStatusOptions, timeoutMs: number, gauges: Gauges): Promise<void> {
  const [database, queue] = await Promise.allSettled([
    withTimeout(Promise.all([
      activeRolloutStatus(db, ROLLOUT_SERIES_LIMIT), rolloutCounts(db), pendingApprovals(db), snapshotPublicationStatus(db),
      countFlagsByLifecycle(db, options.stale ?? { unevaluatedDays: 36_500, singleValueDays: 36_500 }), lastCleanup(db),
    ]), timeoutMs, 'PostgreSQL'),
    withTimeout(describeTaskQueue(connection, options), timeoutMs, 'Temporal'),
  ]);
  const now = Date.now();
  gauges.databaseUp!.set(database.status === 'fulfilled' ? 1 : 0);
  if (database.status === 'fulfilled') {
    const [rollouts, counts, approvals, snapshot, lifecycle, cleanup] = database.value;
    gauges.storedFlags!.set({ state: 'active' }, lifecycle.active);
    gauges.storedFlags!.set({ state: 'archived' }, lifecycle.archived);
    if (options.stale) for (const [reason, count] of Object.entries(lifecycle.stale)) gauges.staleFlags!.set({ reason }, count);
    setRollouts(gauges, rollouts, counts, now);
    gauges.approvalsPending!.set(approvals.count);
    gauges.approvalOldestSeconds!.set(approvals.oldestSince === null ? 0 : Math.max(0, (now - approvals.oldestSince) / 1000));
    gauges.snapshotLag!.set(snapshot.oldestUnpublishedAt === null ? 0 : Math.max(0, (now - snapshot.oldestUnpublishedAt) / 1000));
    if (snapshot.version !== null) gauges.snapshotPublishedVersion!.set(snapshot.version);
    if (cleanup) gauges.cleanupCompleted!.set({ schedule: RETENTION_SCHEDULE_ID }, cleanup.finishedAt / 1000);
  } else {
    options.log.warn({ err: database.reason }, 'worker status metrics: PostgreSQL did not answer');
  }
  gauges.temporalUp!.set(queue.status === 'fulfilled' ? 1 : 0);
  if (queue.status === 'fulfilled') {
    for (const { type, backlog, backlogAgeSeconds, pollers } of queue.value) {
      const labels = { task_queue: options.taskQueue, type };
      gauges.taskQueueBacklog!.set(labels, backlog);
      gauges.taskQueueBacklogAge!.set(labels, backlogAgeSeconds);
      gauges.taskQueuePollers!.set(labels, pollers);
    }
  } else {
    options.log.warn({ err: queue.reason }, 'worker status metrics: Temporal did not answer');
  }
}

function setRollouts(gauges: Gauges, rollouts: ActiveRolloutStatus[], counts: Awaited<ReturnType<typeof rolloutCounts>>, now: number): void {
  // Series of rollouts that finished since the last scrape must go, not linger at their last value.
  for (const name of ['rolloutStep', 'rolloutSteps', 'rolloutPercentage', 'rolloutOverdue', 'rolloutPaused', 'rolloutsPaused']) gauges[name]!.reset();
  const byState = { scheduled: 0, running: 0, paused: 0 };
  const byCause = new Map<string, number>();
  for (const { state, pauseCause, count } of counts) {
    byState[state] += count;
    if (state === 'paused') byCause.set(pauseCause ?? 'unknown', (byCause.get(pauseCause ?? 'unknown') ?? 0) + count);
  }
  for (const [state, count] of Object.entries(byState)) gauges.rollouts!.set({ state }, count);
  for (const [cause, count] of byCause) gauges.rolloutsPaused!.set({ cause }, count);
  for (const rollout of rollouts) {
    gauges.rolloutStep!.set({ flag: rollout.flagKey, state: rollout.state }, rollout.stepsApplied);
    gauges.rolloutSteps!.set({ flag: rollout.flagKey }, rollout.steps);
    if (rollout.percentage !== null) gauges.rolloutPercentage!.set({ flag: rollout.flagKey }, rollout.percentage);
    if (rollout.state === 'paused') gauges.rolloutPaused!.set({ flag: rollout.flagKey, cause: rollout.pauseCause ?? 'unknown' }, rollout.pausedAt === null ? 0 : Math.max(0, (now - rollout.pausedAt) / 1000));
    if (rollout.state === 'running') gauges.rolloutOverdue!.set({ flag: rollout.flagKey }, rollout.nextStepAt === null ? 0 : Math.max(0, (now - rollout.nextStepAt) / 1000));
  }
}

async function describeTaskQueue(connection: Connection, options: WorkerStatusOptions) {
  return Promise.all(
    TASK_QUEUE_TYPES.map(async ([type, taskQueueType]) => {
      const response = await connection.workflowService.describeTaskQueue({
        namespace: options.namespace,
        taskQueue: { name: options.taskQueue, kind: NORMAL_TASK_QUEUE },
        taskQueueType,
        reportStats: true,
      });
      const age = response.stats?.approximateBacklogAge;
      return {
        type,
        backlog: Number(response.stats?.approximateBacklogCount ?? 0),
        backlogAgeSeconds: age ? Number(age.seconds ?? 0) + (age.nanos ?? 0) / 1e9 : 0,
        pollers: response.pollers.length,
      };
    }),
  );
}
