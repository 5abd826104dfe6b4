// Rollouts when things go wrong or are driven from elsewhere: the worker killed mid-step, failing
// gates, signals and cancellation from the Temporal CLI (what the UI sends), the auto-progress
// circuit breaker, and what the Temporal UI lists.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { WRITE_LOCK_KEY } from '../../src/data/write-transaction.ts';
import { findTemporalCli } from '../../src/launcher/temporal-cli.ts';
import { quietTemporal } from '../support/logger.ts';
import { eventually } from '../support/eventually.ts';
import { loopbackOutbound } from '../support/outbound.ts';
import { appliedSteps, startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { recordHistory, startChildWorker } from '../support/rollout-worker.ts';
import { rolloutWorkflowId } from '../../src/domain/workflow-ids.ts';

const run = promisify(execFile);

/** What docs/rollouts.md promises for a step whose worker is lost, once another worker polls. */
const LOST_WORKER_BOUND_MS = 5_000;
/**
 * How long the plan has no worker at all: longer than several of its 2 s gaps, so that the steps
 * after it are overdue. How overdue steps catch up, one minimum dwell apart, is tested in workflow
 * time in rollout-time-skipping.test.ts; here it is the real worker and server that must keep it.
 */
const STALL_MS = 8_000;

/** How many other sessions wait for the write lock (a step's transaction blocked inside it). */
async function waitingForTheWriteLock(client: pg.Client): Promise<number> {
  const result = await client.query<{ waiting: number }>(
    `SELECT count(*)::int AS waiting FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
  );
  return result.rows[0]?.waiting ?? 0;
}

describe('rollouts under trouble and from the Temporal UI', () => {
  let harness: RolloutHarness;
  let metricServer: Server;
  let metricUrl: string;
  /** What the fake metrics endpoint answers, per path. */
  const metrics = new Map<string, number>();

  beforeAll(async () => {
    quietTemporal();
    metricServer = createServer((request, response) => {
      const value = metrics.get(request.url ?? '');
      if (value === undefined) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: { rate: value } }));
    });
    await new Promise<void>((resolve) => metricServer.listen(0, '127.0.0.1', resolve));
    metricUrl = `http://127.0.0.1:${(metricServer.address() as AddressInfo).port}`;
    // The fake metrics endpoint listens on loopback, which the embedded default's policy allows.
    harness = await startRolloutHarness({ worker: false, outbound: loopbackOutbound() });
  });
  afterAll(async () => {
    await harness.close();
    await new Promise((resolve) => metricServer.close(resolve));
  });

  it('a worker killed in the middle of a step delays it by at most 5 s once another worker polls; after a stall of several steps the overdue steps keep the minimum dwell; no step is lost or applied twice', async () => {
    const key = 'lost-worker-then-stall';
    const created = await harness.createFlag(key);
    const percentages = [10, 20, 30, 40, 50, 60, 70, 80];
    const workers: Awaited<ReturnType<typeof startChildWorker>>[] = [];
    const startWorker = async (options: { writeTimeoutMs?: number } = {}) => {
      const worker = await startChildWorker({ databaseUrl: harness.api.db.url, taskQueue: harness.taskQueue, ...options });
      workers.push(worker);
      return worker;
    };
    const lock = new pg.Client({ connectionString: harness.api.db.url });
    await lock.connect();
    try {
      // A step's write gives up after its deadline (1.5 s by default) and is retried later, so the
      // first worker's step could be between attempts, not inside one, by the time the second worker
      // polls. With the longest deadline the setting allows, it is still waiting inside its
      // transaction when the worker is killed.
      const first = await startWorker({ writeTimeoutMs: 60_000 });
      const started = await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: { steps: percentages.map((percentage) => ({ percentage, after: '2s' })) } });
      expect(started.body).toMatchObject({ catchUp: 'dwell', minDwellMs: null });
      expect(started.body.steps.map((step: Json) => step.minDwellMs)).toEqual([0, 2_000, 2_000, 2_000, 2_000, 2_000, 2_000, 2_000]);
      const planned: number[] = started.body.steps.map((step: Json) => Date.parse(step.plannedAt));
      await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step');

      // Hold the write lock so that the second step's transaction waits inside it: the worker is
      // killed in the middle of the step, not between steps.
      await lock.query('SELECT pg_advisory_lock($1)', [WRITE_LOCK_KEY]);
      await eventually(() => waitingForTheWriteLock(lock), (waiting) => waiting > 0, 15_000);
      const second = await startWorker();
      const killedAt = Date.now();
      await first.kill();
      await lock.query('SELECT pg_advisory_unlock($1)', [WRITE_LOCK_KEY]);
      const afterKill = await harness.waitForRollout(key, (rollout) => rollout.currentStep >= 1, 'the interrupted step');
      // docs/rollouts.md: heartbeat timeout 2 s + first retry 0.5 s + the step.
      expect(Date.parse(appliedSteps(afterKill)[1]?.at) - killedAt).toBeLessThan(LOST_WORKER_BOUND_MS);

      // A stall: no worker at all for several steps' gaps, past the planned times of the later steps.
      await harness.waitForRollout(key, (rollout) => rollout.currentStep >= 2, 'the third step');
      await second.kill();
      const stallStartedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, STALL_MS));
      await startWorker();
      const stallEndedAt = Date.now();
      const done = await harness.waitForRollout(key, (rollout) => rollout.state === 'completed', 'completed after the stall', 60_000);

      const steps = appliedSteps(done);
      expect(steps.map((step) => step.stepIndex)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      const appliedAt = steps.map((step) => Date.parse(step.at));
      // The stall made the remaining steps overdue, and still no two were applied closer than the
      // minimum dwell (the plan's 2 s gap); the view's times are whole milliseconds.
      expect(planned[3]).toBeLessThan(stallEndedAt);
      expect(appliedAt[3]).toBeGreaterThan(stallStartedAt);
      const gaps = appliedAt.slice(1).map((at, index) => at - (appliedAt[index] as number));
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(2_000 - 1);
      // Each held step says so: due one dwell after the step before, and its drift counts from then.
      for (const step of steps.slice(4)) {
        expect(step.details).toMatchObject({ minimumDwell: { afterStep: step.stepIndex - 1, dwellMs: 2_000 } });
        expect(Date.parse(step.targetAt)).toBeGreaterThan(planned[step.stepIndex] as number);
        expect(Date.parse(step.targetAt) - (appliedAt[step.stepIndex - 1] as number)).toBeGreaterThanOrEqual(2_000 - 1);
        expect(done.steps[step.stepIndex]).toMatchObject({ dueAt: step.targetAt, driftMs: step.driftMs });
      }

      const flag = await harness.flag(key);
      expect(flag.version).toBe(created.version + percentages.length);
      expect(flag.rollout).toEqual({ percentage: 80 });
      const progress = await harness.events(key, 'flag.rollout_progress');
      expect(progress.map((event) => event.payload.flag.rollout.percentage)).toEqual(percentages);
      await recordHistory(harness.client.workflow.getHandle(rolloutWorkflowId(key)), 'worker-lost-mid-step-then-stalled');
    } finally {
      await lock.end();
      for (const worker of workers) await worker.kill();
    }
    // An 8 s stall, eight 2 s steps and three worker starts: about 30 s on a quiet machine, and a
    // worker's start takes several times longer on a loaded one.
  }, 180_000);

  it('a failing gate pauses the rollout and says why; fixed and resumed, it continues', async () => {
    await harness.startWorker();
    const key = 'gated';
    metrics.set('/gated', 0.01);
    await harness.createFlag(key);
    await harness.api.request('POST', `/v1/flags/${key}/rollouts`, {
      body: {
        gate: { type: 'http', url: `${metricUrl}/gated`, jsonPath: '$.errors.rate', max: 0.05 },
        steps: [{ percentage: 10, after: '1s' }, { percentage: 50, after: '2s' }],
      },
    });
    await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step (gate passing)');
    metrics.set('/gated', 0.2);
    const paused = await harness.waitForRollout(key, (rollout) => rollout.state === 'paused', 'paused by the gate');
    expect(paused.pause).toMatchObject({ cause: 'gate', by: 'gate' });
    expect(paused.pause.reason).toBe('gate before step 2 failed: the value is above the maximum 0.05');
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 10 });
    const event = (await harness.events(key, 'flag.rollout_paused')).at(-1);
    expect(event?.payload).toMatchObject({ cause: 'gate', reason: paused.pause.reason, details: { stepIndex: 1, value: 0.2, gate: { type: 'http', max: 0.05 } } });

    metrics.set('/gated', 0.01);
    expect((await harness.api.request('POST', `/v1/flags/${key}/rollout/resume`, { body: { reason: 'fixed' } })).status).toBe(200);
    await harness.waitForRollout(key, (rollout) => rollout.state === 'completed', 'completed after the fix');
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 50 });
    await recordHistory(harness.client.workflow.getHandle(rolloutWorkflowId(key)), 'gate-paused-resumed');
  });

  it('a failing gate with onFailure rollback restores the starting percentage and says why', async () => {
    const key = 'gated-rollback';
    metrics.set('/gated-rollback', 1);
    await harness.createFlag(key, { rollout: { percentage: 5 } });
    await harness.api.request('POST', `/v1/flags/${key}/rollouts`, {
      body: {
        steps: [
          { percentage: 20, after: '1s', gate: null },
          { percentage: 50, after: '1s', gate: { type: 'http', url: `${metricUrl}/gated-rollback`, jsonPath: 'errors.rate', max: 0.05, onFailure: 'rollback' } },
        ],
      },
    });
    const done = await harness.waitForRollout(key, (rollout) => rollout.state === 'rolled_back', 'rolled back by the gate');
    expect(done).toMatchObject({ rolledBack: true, currentStep: 0, endReason: 'gate before step 2 failed: the value is above the maximum 0.05' });
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 5 });
    const event = (await harness.events(key, 'flag.rollout_rolled_back')).at(-1);
    expect(event?.payload).toMatchObject({ actor: 'gate', rolledBack: true, reason: done.endReason });
    const progress = await harness.events(key, 'flag.rollout_progress');
    expect(progress.map((entry) => entry.payload.flag.rollout.percentage)).toEqual([20, 5]);
    const handle = harness.client.workflow.getHandle(rolloutWorkflowId(key));
    expect(await handle.result()).toEqual({ state: 'rolled_back', currentStep: 0 });
    await recordHistory(handle, 'gate-rolled-back');
  });

  it('pause and resume signals sent the way the UI sends them, and the UI\'s Cancel, control the rollout; the UI lists it by its search attributes', async () => {
    const key = 'from-the-ui';
    await harness.createFlag(key);
    await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: { steps: [{ percentage: 25, after: '1s' }, { percentage: 50, after: '1h' }] } });
    await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step');
    const cli = findTemporalCli(process.env, () => undefined);
    const common = ['--address', harness.address, '--namespace', harness.namespace, '--workflow-id', rolloutWorkflowId(key)];

    await run(cli, ['workflow', 'signal', ...common, '--name', 'pause', '--input', '{"reason": "error rate", "by": "alice"}']);
    const paused = await harness.waitForRollout(key, (rollout) => rollout.state === 'paused', 'paused by the CLI signal');
    expect(paused.pause).toMatchObject({ cause: 'manual', by: 'alice', reason: 'error rate' });

    const handle = harness.client.workflow.getHandle(rolloutWorkflowId(key));
    // What the UI shows: the handlers with their descriptions, and the current details.
    const metadata = await handle.query<{ definition: { signalDefinitions: { name: string; description?: string }[]; updateDefinitions: { name: string; description?: string }[] }; currentDetails: string }>('__temporal_workflow_metadata');
    const signals = Object.fromEntries(metadata.definition.signalDefinitions.map((signal) => [signal.name, signal.description]));
    expect(Object.keys(signals).sort()).toEqual(['cancelOptions', 'pause', 'resume']);
    expect(signals.pause).toMatch(/^Pause the rollout/);
    expect(metadata.definition.updateDefinitions.map((update) => update.name)).toEqual(['control']);
    expect(metadata.currentDetails).toMatch(/^\*\*paused\*\* at 25% by alice: error rate/);
    expect(await handle.query('status')).toMatchObject({ state: 'paused', currentStep: 0, percent: 25, pause: { by: 'alice', reason: 'error rate' } });

    const listed = await eventually(async () => {
      const found: string[] = [];
      for await (const execution of harness.client.workflow.list({ query: `FlagKey = '${key}' AND RolloutState = 'paused' AND RolloutPercent = 25` })) found.push(execution.workflowId);
      return found;
    }, (found) => found.length > 0, 30_000, 100);
    expect(listed.value).toEqual([rolloutWorkflowId(key)]);

    // No input at all, as the UI's Signal button sends by default.
    await run(cli, ['workflow', 'signal', ...common, '--name', 'resume']);
    const resumed = await harness.waitForRollout(key, (rollout) => rollout.state === 'running', 'resumed by the CLI signal');
    expect(resumed.history.at(-1)).toMatchObject({ kind: 'resumed', actor: 'temporal-ui', reason: null });

    await run(cli, ['workflow', 'cancel', ...common]);
    const cancelled = await harness.waitForRollout(key, (rollout) => rollout.state === 'cancelled', 'cancelled from the CLI');
    expect(cancelled).toMatchObject({ rolledBack: false, endReason: 'cancelled through Temporal', percentage: 25 });
    // The outcome is recorded before the workflow ends: it closes a moment later.
    await eventually(() => handle.describe(), (description) => description.status.name === 'CANCELLED', 30_000, 100);
    await recordHistory(handle, 'ui-signals-and-cancel');
  });

  it('with auto-progress disabled no step is applied; rollouts hold, and continue when it is enabled again', async () => {
    const key = 'circuit';
    await harness.createFlag(key);
    const off = await harness.api.request('POST', '/v1/rollouts/auto-progress', { body: { enabled: false, reason: 'incident 42' } });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ enabled: false, reason: 'incident 42', updatedBy: 'admin', resumed: [] });
    await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: { steps: [{ percentage: 10, after: '1s' }] } });
    const held = await harness.waitForRollout(key, (rollout) => rollout.state === 'paused', 'held');
    expect(held.pause).toMatchObject({ cause: 'auto_progress', by: 'system', reason: 'auto-progress disabled: incident 42 (by admin)' });
    expect((await harness.flag(key)).rollout).toBeUndefined();
    const listed = await harness.api.request('GET', '/v1/rollouts?state=paused');
    expect(listed.body.items.map((item: Json) => item.flagKey)).toEqual([key]);

    const on = await harness.api.request('POST', '/v1/rollouts/auto-progress', { body: { enabled: true } });
    expect(on.body).toMatchObject({ enabled: true, resumed: [key] });
    await harness.waitForRollout(key, (rollout) => rollout.state === 'completed', 'completed once enabled');
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 10 });
    const audit = await harness.api.db.pool.anyFirst(sql.type(z.object({ action: z.string() }))`
      SELECT action FROM audit_log WHERE entity_type = 'rollout' AND entity_key = '*' ORDER BY id`);
    expect(audit).toEqual(['rollout.auto_progress_disabled', 'rollout.auto_progress_enabled']);
    await recordHistory(harness.client.workflow.getHandle(rolloutWorkflowId(key)), 'auto-progress-held');
  });

  it('a step whose flag rollout was changed outside the plan pauses instead of overwriting it', async () => {
    const key = 'cas';
    await harness.createFlag(key);
    await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: { steps: [{ percentage: 10, after: '1s' }, { percentage: 50, after: '2s' }] } });
    await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step');
    // A write that does not go through the guarded path (a restore from a backup, a hand edit).
    await harness.api.db.pool.query(sql.typeAlias('void')`
      UPDATE flags SET definition = jsonb_set(definition, '{rollout}', '{"percentage": 3}'), version = version + 1 WHERE key = ${key}`);
    const paused = await harness.waitForRollout(key, (rollout) => rollout.state === 'paused', 'paused on the conflict');
    expect(paused.pause).toMatchObject({ cause: 'conflict', by: 'system' });
    expect(paused.pause.reason).toMatch(/^the flag's rollout is 3%, not 10% where the plan left it/);
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 3 });
    const cancelled = await harness.api.request('POST', `/v1/flags/${key}/rollout/cancel`, { body: { rollback: true } });
    expect(cancelled.body).toMatchObject({ state: 'cancelled', rolledBack: false });
    expect(cancelled.body.endReason).toMatch(/rollback skipped: the flag's rollout is 3%/);
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 3 });
    await recordHistory(harness.client.workflow.getHandle(rolloutWorkflowId(key)), 'conflict-paused-cancelled');
  });
});
