// "5% → 25% → 100% over two days" in seconds: Temporal's time-skipping test server runs the real
// rollout workflow with typed fake activities, and each step must land at its absolute target time
// in workflow time, however long the plan; nothing moves while a plan is paused past a step's time,
// and on resume shift_schedule moves the rest by the paused time while apply_overdue applies the
// overdue step at once and the next its gap later; after a long pause resumed with apply_overdue,
// overdue steps catch up one minimum dwell at a time (or at once, when the plan opts out).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { createRolloutActivities } from '../../src/activities/rollout-activities.ts';
import type { createScheduledChangeActivities } from '../../src/activities/scheduled-change-activities.ts';
import { findTemporalTestServer } from '../../src/launcher/temporal-cli.ts';
import type { RolloutStatus, RolloutWorkflowInput } from '../../src/workflows/rollout-definitions.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { eventually } from '../support/eventually.ts';
import { quietTemporal } from '../support/logger.ts';
import type { CatchUpPolicy } from '../../src/domain/rollout-plan.ts';
import { freePorts } from '../support/ports.ts';

type RolloutActivities = ReturnType<typeof createRolloutActivities>;
type FakeActivities = Pick<RolloutActivities, 'applyRolloutStep' | 'checkRolloutGate' | 'recordRolloutTransition' | 'finishRollout'>;
type ScheduledChangeActivities = ReturnType<typeof createScheduledChangeActivities>;

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface AppliedStep {
  percentage: number;
  targetAt: number;
  at: number;
  minimumDwell: { afterStep: number; dwellMs: number } | undefined;
}

/** Activities that write nothing and note when each step was applied, in workflow time. */
function fakeActivities(env: TestWorkflowEnvironment, applied: AppliedStep[]): FakeActivities {
  return {
    async applyRolloutStep(input) {
      const at = await env.currentTimeMs();
      applied.push({ percentage: 'percentage' in input.rollout ? input.rollout.percentage : -1, targetAt: input.targetAt, at, minimumDwell: input.minimumDwell });
      return { kind: 'applied', flagVersion: applied.length + 1, rollout: input.rollout, appliedAt: at };
    },
    async checkRolloutGate() {
      throw new Error('the plan has no gate; no check is expected');
    },
    async recordRolloutTransition(input) {
      return { state: input.kind === 'paused' ? 'paused' : 'running' };
    },
    async finishRollout(input) {
      return { state: input.outcome, rolledBack: input.rollback };
    },
  };
}

describe('rollout plans on the time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    quietTemporal();
    // A port of ours, below the ephemeral range: the SDK's own choice is a random free port in it,
    // which an outgoing connection may take before the server binds it.
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: findTemporalTestServer() }, port: await freePorts(1) } });
    // The test server starts with no custom search attributes; register the project's own.
    const types = {
      Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      Double: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
      Datetime: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    };
    const declared = JSON.parse(readFileSync(new URL('../../temporal/search-attributes.json', import.meta.url), 'utf8')) as Record<string, keyof typeof types>;
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(Object.entries(declared).map(([name, type]) => [name, types[type]])),
    });
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('applies 5%, 25% and 100% at their absolute times in workflow time, in a few real seconds', async () => {
    const applied: AppliedStep[] = [];
    const activities = fakeActivities(env, applied);
    const taskQueue = `time-skipping-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) },
      activities,
    });
    const start = await env.currentTimeMs();
    const plan: RolloutWorkflowInput = {
      rolloutId: randomUUID(),
      flagKey: 'two-day-plan',
      plan: {
        onResume: 'shift_schedule',
        steps: [
          { rollout: { percentage: 5 }, targetAt: start + HOUR },
          { rollout: { percentage: 25 }, targetAt: start + 24 * HOUR },
          { rollout: { percentage: 100 }, targetAt: start + 48 * HOUR },
        ],
      },
      startRollout: null,
      startedBy: 'alice',
    };
    const realStart = Date.now();
    const result = await worker.runUntil(
      env.client.workflow.execute('rolloutWorkflow', { taskQueue, workflowId: `rollout:two-day-plan-${randomUUID()}`, args: [plan] }),
    );
    expect(Date.now() - realStart).toBeLessThan(60_000);
    expect(result).toMatchObject({ state: 'completed' });
    expect(applied.map((step) => step.percentage)).toEqual([5, 25, 100]);
    for (const step of applied) {
      expect(step.at).toBeGreaterThanOrEqual(step.targetAt);
      // Workflow time: the step runs as soon as its timer fires, not a skipped hour later.
      expect(step.at - step.targetAt).toBeLessThan(60_000);
    }
  });

  /**
   * Three steps; paused once the first is applied, and resumed at `resumeAfter` from the start, when the
   * second step's planned time has passed. Returns the plan's start, when each step was applied and the
   * status right after the resume, all in workflow time.
   */
  async function pausedPastTheSecondStep(onResume: 'shift_schedule' | 'apply_overdue', gaps: readonly number[], resumeAfter: number): Promise<{ start: number; planned: number[]; applied: AppliedStep[]; pausedAt: number; resumedAt: number; resumed: RolloutStatus }> {
    const applied: AppliedStep[] = [];
    const taskQueue = `paused-${randomUUID()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) }, activities: fakeActivities(env, applied) });
    const start = await env.currentTimeMs();
    const planned = gaps.map((_, index) => start + gaps.slice(0, index + 1).reduce((sum, gap) => sum + gap, 0));
    const input: RolloutWorkflowInput = {
      rolloutId: randomUUID(),
      flagKey: `paused-${onResume}`,
      plan: { onResume, steps: [10, 30, 60].map((percentage, index) => ({ rollout: { percentage }, targetAt: planned[index]! })) },
      startRollout: null,
      startedBy: 'alice',
    };
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start('rolloutWorkflow', { taskQueue, workflowId: `rollout:paused-${randomUUID()}`, args: [input] });
      await env.sleep(planned[0]! - start + 10_000);
      expect(applied).toHaveLength(1);
      const pausedAt = await env.currentTimeMs();
      await handle.signal('pause', { reason: 'error rate' });
      await eventually(() => handle.query<RolloutStatus>('status'), (status) => status.state === 'paused', 10_000);
      await env.sleep(start + resumeAfter - (await env.currentTimeMs()));
      // Past the second step's planned time: nothing moved while paused.
      expect(await env.currentTimeMs()).toBeGreaterThan(planned[1]!);
      expect(applied).toHaveLength(1);
      const resumedAt = await env.currentTimeMs();
      await handle.signal('resume', { reason: 'false alarm' });
      const resumed = (await eventually(() => handle.query<RolloutStatus>('status'), (status) => status.state === 'running', 10_000)).value;
      await handle.result();
      return { start, planned, applied, pausedAt, resumedAt, resumed };
    });
  }

  it('with shift_schedule, holds the plan while paused past a step\'s time, and on resume moves the rest by the paused time', async () => {
    const { planned, applied, pausedAt, resumedAt, resumed } = await pausedPastTheSecondStep('shift_schedule', [HOUR, 3 * HOUR, 2 * HOUR], 5 * HOUR);
    expect(applied.map((step) => step.percentage)).toEqual([10, 30, 60]);
    // The offset is the time spent paused (the signals' workflow times are within a minute of ours).
    expect(Math.abs(resumed.scheduleOffsetMs - (resumedAt - pausedAt))).toBeLessThan(MINUTE);
    expect(resumed.nextStep).toMatchObject({ index: 1, plannedAt: planned[1], at: planned[1]! + resumed.scheduleOffsetMs });
    // The second step waits for what was left of its gap when paused, not at once; the third keeps its gap after it.
    for (const index of [1, 2]) {
      expect(applied[index]!.targetAt).toBe(planned[index]! + resumed.scheduleOffsetMs);
      expect(applied[index]!.at - applied[index]!.targetAt).toBeGreaterThanOrEqual(0);
      expect(applied[index]!.at - applied[index]!.targetAt).toBeLessThan(MINUTE);
    }
    expect(applied[1]!.at - resumedAt).toBeGreaterThan(2 * HOUR);
  });

  it('with apply_overdue, applies a step that fell due while paused at once on resume, and the next no sooner than its planned gap after it', async () => {
    const gaps = [MINUTE, 2 * MINUTE, 4 * MINUTE];
    const { planned, applied, resumedAt, resumed } = await pausedPastTheSecondStep('apply_overdue', gaps, 4 * MINUTE);
    expect(resumed.scheduleOffsetMs).toBe(0);
    expect(applied.map((step) => step.percentage)).toEqual([10, 30, 60]);
    const [, overdue, next] = applied;
    expect(overdue!.at - resumedAt).toBeLessThan(30_000);
    // Its planned time has come, but the minimum dwell (its 4 min gap) counts from the overdue step.
    expect(next!.at - overdue!.at).toBeGreaterThanOrEqual(gaps[2]!);
    expect(next!.at - overdue!.at).toBeLessThan(gaps[2]! + 30_000);
    expect(next!.at).toBeGreaterThan(planned[2]!);
    expect(next!.minimumDwell).toEqual({ afterStep: 1, dwellMs: gaps[2] });
  });

  /**
   * Five steps an hour apart; paused once the first is applied and resumed at 4 h 30 min, when the
   * steps of 2 h, 3 h and 4 h are overdue. Returns when each step was applied, in workflow time, and
   * the workflow's status and UI details right after the first overdue step.
   */
  async function pausedPastThreeSteps(catchUp: CatchUpPolicy): Promise<{ start: number; applied: AppliedStep[]; held: RolloutStatus; details: string }> {
    const applied: AppliedStep[] = [];
    const taskQueue = `catch-up-${randomUUID()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) }, activities: fakeActivities(env, applied) });
    const start = await env.currentTimeMs();
    const input: RolloutWorkflowInput = {
      rolloutId: randomUUID(),
      flagKey: `catch-up-${catchUp}`,
      plan: { onResume: 'apply_overdue', catchUp, steps: [10, 20, 30, 40, 50].map((percentage, index) => ({ rollout: { percentage }, targetAt: start + (index + 1) * HOUR })) },
      startRollout: null,
      startedBy: 'alice',
    };
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start('rolloutWorkflow', { taskQueue, workflowId: `rollout:catch-up-${randomUUID()}`, args: [input] });
      await env.sleep(HOUR + MINUTE);
      expect(applied).toHaveLength(1);
      await handle.signal('pause', { reason: 'incident' });
      await eventually(() => handle.query<RolloutStatus>('status'), (status) => status.state === 'paused', 10_000);
      await env.sleep(3.5 * HOUR - MINUTE);
      await handle.signal('resume');
      const held = (await eventually(() => handle.query<RolloutStatus>('status'), (status) => status.currentStep >= 1, 10_000)).value;
      const metadata = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
      await handle.result();
      return { start, applied, held, details: metadata.currentDetails };
    });
  }

  it('applies the overdue steps one minimum dwell apart (the plan\'s gap, at most 5 min), says why in the UI, and the step after them at its own time', async () => {
    const { start, applied, held, details } = await pausedPastThreeSteps('dwell');
    expect(applied.map((step) => step.percentage)).toEqual([10, 20, 30, 40, 50]);
    const resumedAt = start + 4.5 * HOUR;
    const at = applied.map((step) => step.at - resumedAt);
    // 20% at once on resume; 30% and 40% five minutes after the step before; 50% at its 5 h.
    expect(at[1]).toBeLessThan(MINUTE);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(5 * MINUTE);
    expect(at[2]! - at[1]!).toBeLessThan(6 * MINUTE);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(5 * MINUTE);
    expect(at[3]! - at[2]!).toBeLessThan(6 * MINUTE);
    expect(applied[4]!.at - (start + 5 * HOUR)).toBeGreaterThanOrEqual(0);
    expect(applied[4]!.at - (start + 5 * HOUR)).toBeLessThan(MINUTE);
    // The steps the dwell held say so, and are due (their drift counts) from the end of the dwell.
    expect(applied.map((step) => step.minimumDwell ?? null)).toEqual([null, null, { afterStep: 1, dwellMs: 5 * MINUTE }, { afterStep: 2, dwellMs: 5 * MINUTE }, null]);
    expect(applied[2]!.targetAt - applied[1]!.at).toBe(5 * MINUTE);
    // Right after the first overdue step: the next waits for the dwell, and the status and UI say why.
    expect(held.nextStep).toMatchObject({ index: 2, plannedAt: start + 3 * HOUR, minimumDwell: { afterStep: 1, dwellMs: 5 * MINUTE } });
    expect(held.steps?.map((step) => step.index)).toEqual([0, 1]);
    expect(details).toMatch(/next: 30% at .* — held by the minimum dwell: at least 5 min after step 2/);
  });

  it('with catchUp "immediate", applies the overdue steps at once', async () => {
    const { start, applied, held } = await pausedPastThreeSteps('immediate');
    const resumedAt = start + 4.5 * HOUR;
    for (const step of applied.slice(1, 4)) expect(step.at - resumedAt).toBeLessThan(MINUTE);
    expect(applied.every((step) => step.minimumDwell === undefined)).toBe(true);
    expect(held.nextStep === null || held.nextStep.minimumDwell === null).toBe(true);
  });

  it('applies a change at the time stored for it: a move to 30 days ahead whose wake-up was lost is waited for, in workflow time', async () => {
    const start = await env.currentTimeMs();
    // The row says 30 days (a reschedule committed); the workflow was started for 10 days and never told.
    const storedRunAt = start + 30 * DAY;
    const fired: number[] = [];
    const activities: ScheduledChangeActivities = {
      async fireScheduledChange() {
        const at = await env.currentTimeMs();
        fired.push(at);
        return storedRunAt - at > 1_000 ? { status: 'waiting', runAt: storedRunAt } : { status: 'applied', flagVersion: 2 };
      },
      async cancelScheduledChangeFromTemporal() {
        throw new Error('nothing cancels this change');
      },
    };
    const taskQueue = `time-skipping-${randomUUID()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) }, activities });
    const realStart = Date.now();
    const result = await worker.runUntil(env.client.workflow.execute('scheduledChangeWorkflow', {
      taskQueue,
      workflowId: `scheduled-change:sc_${randomUUID()}`,
      args: [{ scheduledChangeId: 'sc_moved', flagKey: 'moved-change', runAt: start + 10 * DAY, createdBy: 'alice', fields: ['enabled'] }],
    }));
    expect(Date.now() - realStart).toBeLessThan(60_000);
    expect(result).toEqual({ status: 'applied', flagVersion: 2 });
    expect(fired).toHaveLength(2);
    expect(fired[0]! - (start + 10 * DAY)).toBeGreaterThanOrEqual(0);
    expect(fired[1]! - storedRunAt).toBeGreaterThanOrEqual(0);
    expect(fired[1]! - storedRunAt).toBeLessThan(60_000);
  });
});
