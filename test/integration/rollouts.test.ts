// Rollout plans on the real Temporal server and PostgreSQL: a plan runs to completion on time,
// conflicts are refused, pause holds and resume continues (both resume policies, through the API;
// their timing is in rollout-time-skipping.test.ts), cancel stops.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { quietTemporal } from '../support/logger.ts';
import { appliedSteps, startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { recordHistory } from '../support/rollout-worker.ts';
import { rolloutWorkflowId } from '../../src/domain/workflow-ids.ts';

/** A step may land late on a loaded machine; it must never land early. */
const EARLY_TOLERANCE_MS = 50;
const LATE_TOLERANCE_MS = 3_000;

describe('rollout plans', () => {
  let harness: RolloutHarness;
  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
  });
  afterAll(async () => {
    await harness.close();
  });

  it('applies a plan of three steps at their times, through the write path, with three progress events', async () => {
    const key = 'three-steps';
    const created = await harness.createFlag(key);
    const started = await harness.api.request('POST', `/v1/flags/${key}/rollouts`, {
      body: { steps: [{ percentage: 10, after: '2s' }, { percentage: 50, after: '2s' }, { percentage: 100, after: '2s' }], reason: 'ramp up' },
    });
    expect(started.status).toBe(201);
    expect(started.headers.get('location')).toBe(`/v1/flags/${key}/rollout`);
    expect(started.body).toMatchObject({ flagKey: key, workflowId: `rollout:${key}`, startedBy: 'admin', onResume: 'shift_schedule', startRollout: null, currentStep: -1 });
    expect(['scheduled', 'running']).toContain(started.body.state);
    expect(started.body.steps.map((step: Json) => step.percentage)).toEqual([10, 50, 100]);
    const planned = started.body.steps.map((step: Json) => Date.parse(step.plannedAt));
    expect(planned[1] - planned[0]).toBe(2_000);
    expect(planned[2] - planned[1]).toBe(2_000);

    const done = await harness.waitForRollout(key, (rollout) => rollout.state === 'completed', 'completed');
    expect(done).toMatchObject({ currentStep: 2, percentage: 100, rollout: { percentage: 100 }, nextStep: null, pause: null });
    const steps = appliedSteps(done);
    expect(steps.map((step) => step.stepIndex)).toEqual([0, 1, 2]);
    for (const [index, step] of steps.entries()) {
      const lateBy = Date.parse(step.at) - planned[index];
      expect(lateBy).toBeGreaterThanOrEqual(-EARLY_TOLERANCE_MS);
      expect(lateBy).toBeLessThan(LATE_TOLERANCE_MS);
      // Due at its target, or (the minimum dwell) one planned gap after the previous step landed.
      expect(Date.parse(step.targetAt)).toBeGreaterThanOrEqual(planned[index]);
      expect(step.driftMs).toBe(Math.round(Date.parse(step.at) - Date.parse(step.targetAt)));
    }

    const flag = await harness.flag(key);
    expect(flag.rollout).toEqual({ percentage: 100 });
    expect(flag.version).toBe(created.version + 3);
    expect(flag.updatedBy).toBe(`rollout:${key} (started by admin)`);

    const progress = await harness.events(key, 'flag.rollout_progress');
    expect(progress.map((event) => event.payload.flag.rollout.percentage)).toEqual([10, 50, 100]);
    expect(progress.map((event) => event.payload.version)).toEqual([2, 3, 4]);
    expect(new Set(progress.map((event) => event.payload.actor))).toEqual(new Set([`rollout:${key} (started by admin)`]));
    expect((await harness.events(key, 'flag.rollout_scheduled')).length).toBe(1);
    expect((await harness.events(key, 'flag.rollout_completed')).length).toBe(1);

    const audit = await harness.api.request('GET', `/v1/flags/${key}/audit`);
    const stepEntries = audit.body.items.filter((entry: Json) => entry.action === 'flag.rollout_progress');
    expect(stepEntries).toHaveLength(3);
    expect(stepEntries[0]).toMatchObject({ actor: `rollout:${key} (started by admin)` });

    const handle = harness.client.workflow.getHandle(rolloutWorkflowId(key));
    expect(await handle.result()).toEqual({ state: 'completed', currentStep: 2 });
    const description = await handle.describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(await description.staticSummary()).toBe(`Rollout of ${key}: no rollout → 10% → 50% → 100%`);
    expect(description.typedSearchAttributes.get({ name: 'RolloutState', type: 'KEYWORD' })).toBe('completed');
    expect(description.typedSearchAttributes.get({ name: 'RolloutPercent', type: 'DOUBLE' })).toBe(100);
    expect(description.typedSearchAttributes.get({ name: 'FlagKey', type: 'KEYWORD' })).toBe(key);
    await recordHistory(handle, 'completed-three-steps');
  });

  it('refuses a second plan and a manual change of the rollout while a plan runs; cancel stops it, keeping or rolling back the percentage', async () => {
    const key = 'owned';
    await harness.createFlag(key, { rollout: { percentage: 5 } });
    const plan = { steps: [{ percentage: 20, after: '1s' }, { percentage: 50, after: '1h' }] };
    expect((await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: plan })).status).toBe(201);
    const afterFirst = await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step');
    expect(afterFirst).toMatchObject({ state: 'running', percentage: 20, nextStep: { index: 1 } });

    const second = await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: plan });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('rollout_conflict');

    const flag = await harness.flag(key);
    const manual = await harness.api.request('PATCH', `/v1/flags/${key}`, { body: { rollout: { percentage: 90 }, version: flag.version } });
    expect(manual.status).toBe(409);
    expect(manual.body.error.code).toBe('rollout_conflict');
    const unrelated = await harness.api.request('PATCH', `/v1/flags/${key}`, { body: { description: 'still editable', version: flag.version } });
    expect(unrelated.status).toBe(200);

    const cancelled = await harness.api.request('POST', `/v1/flags/${key}/rollout/cancel`, { body: { reason: 'enough for today' } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', rolledBack: false, currentStep: 0, endReason: 'enough for today', nextStep: null });
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 20 });
    const handle = harness.client.workflow.getHandle(rolloutWorkflowId(key));
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    await recordHistory(handle, 'cancelled-after-one-step');
    const cancelEvents = await harness.events(key, 'flag.rollout_cancelled');
    expect(cancelEvents).toHaveLength(1);
    expect(cancelEvents[0]?.payload).toMatchObject({ actor: 'admin', reason: 'enough for today', rolledBack: false });

    // The flag is free again: a manual change passes, and a new plan may start (the workflow id is reused).
    const free = await harness.flag(key);
    expect((await harness.api.request('PATCH', `/v1/flags/${key}`, { body: { rollout: { percentage: 30 }, version: free.version } })).status).toBe(200);
    expect((await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: plan })).status).toBe(201);
    await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step of the second plan');
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 20 });
    const rolledBack = await harness.api.request('POST', `/v1/flags/${key}/rollout/cancel`, { body: { rollback: true } });
    expect(rolledBack.body).toMatchObject({ state: 'cancelled', rolledBack: true, startRollout: { percentage: 30 } });
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 30 });
    await recordHistory(harness.client.workflow.getHandle(rolloutWorkflowId(key)), 'cancelled-with-rollback');

    const list = await harness.api.request('GET', `/v1/flags/${key}/rollouts`);
    expect(list.body.items.map((item: Json) => item.state)).toEqual(['cancelled', 'cancelled']);
  });

  // The timing of pause and resume (nothing moves while paused past a step's time; shift_schedule
  // moves the rest by the paused time; apply_overdue applies an overdue step at once and the next
  // one its gap later) is tested in workflow time in rollout-time-skipping.test.ts. Here: the same
  // controls through the API, the write path and the events, on the real server.
  it('pause holds the plan and resume continues it through the API with shift_schedule: the view, the events and the history say so, and the second step waits for the rest of its gap', async () => {
    const key = 'paused-shift';
    await harness.createFlag(key);
    await harness.api.request('POST', `/v1/flags/${key}/rollouts`, {
      body: { steps: [{ percentage: 10, after: '1s' }, { percentage: 30, after: '3s' }, { percentage: 60, after: '1s' }] },
    });
    const first = await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step');
    const plannedSecond = Date.parse(first.steps[1].plannedAt);

    const paused = await harness.api.request('POST', `/v1/flags/${key}/rollout/pause`, { body: { reason: 'error rate' } });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ state: 'paused', currentStep: 0, pause: { cause: 'manual', by: 'admin', reason: 'error rate' }, nextStep: null });
    const pausedEvents = await harness.events(key, 'flag.rollout_paused');
    expect(pausedEvents.at(-1)?.payload).toMatchObject({ actor: 'admin', cause: 'manual', reason: 'error rate', state: 'paused' });
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 10 });

    const resumed = await harness.api.request('POST', `/v1/flags/${key}/rollout/resume`, { body: { reason: 'false alarm' } });
    const resumedAt = Date.now();
    expect(resumed.body).toMatchObject({ state: 'running', pause: null });
    expect(resumed.body.scheduleOffsetMs).toBeGreaterThan(0);
    const shiftedSecond = Date.parse(resumed.body.steps[1].dueAt);
    // Moved by the paused time, or later still when a late first step's minimum dwell (the second
    // step's 3 s gap) holds it: a pause this short may shift it less than the first step was late.
    expect(shiftedSecond).toBeGreaterThanOrEqual(plannedSecond + resumed.body.scheduleOffsetMs);
    expect(Date.parse(resumed.body.nextStep.at)).toBe(shiftedSecond);

    const done = await harness.waitForRollout(key, (rollout) => rollout.state === 'completed', 'completed');
    const [, second] = appliedSteps(done);
    // The second step waited for what was left of its gap when paused, not at once.
    expect(Date.parse(second?.at)).toBeGreaterThanOrEqual(shiftedSecond - EARLY_TOLERANCE_MS);
    expect(Date.parse(second?.at) - resumedAt).toBeGreaterThan(1_000);
    expect(done.history.map((entry: Json) => entry.kind)).toEqual(['scheduled', 'started', 'step_applied', 'paused', 'resumed', 'step_applied', 'step_applied', 'completed']);
    expect((await harness.events(key, 'flag.rollout_resumed')).at(-1)?.payload).toMatchObject({ actor: 'admin', reason: 'false alarm' });
    await recordHistory(harness.client.workflow.getHandle(rolloutWorkflowId(key)), 'paused-resumed-shift-schedule');
  });

  it('with apply_overdue, a resume keeps the plan\'s own times (no offset) and the plan runs to its end', async () => {
    const key = 'paused-overdue';
    await harness.createFlag(key);
    const started = await harness.api.request('POST', `/v1/flags/${key}/rollouts`, {
      body: { onResume: 'apply_overdue', steps: [{ percentage: 10, after: '1s' }, { percentage: 30, after: '3s' }, { percentage: 60, after: '1s' }] },
    });
    expect(started.body.onResume).toBe('apply_overdue');
    const planned = started.body.steps.map((step: Json) => Date.parse(step.plannedAt));
    await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step');
    expect((await harness.api.request('POST', `/v1/flags/${key}/rollout/pause`)).body.state).toBe('paused');
    const resumed = await harness.api.request('POST', `/v1/flags/${key}/rollout/resume`);
    expect(resumed.body).toMatchObject({ state: 'running', scheduleOffsetMs: 0 });
    // Its planned time (or a late first step's minimum dwell after it), not moved by the pause.
    expect(Date.parse(resumed.body.nextStep.at)).toBeGreaterThanOrEqual(planned[1]);
    expect(Date.parse(resumed.body.nextStep.at)).toBe(Date.parse(resumed.body.steps[1].dueAt));

    const done = await harness.waitForRollout(key, (rollout) => rollout.state === 'completed', 'completed');
    const steps = appliedSteps(done);
    for (const [index, step] of steps.entries()) expect(Date.parse(step.at) - planned[index]).toBeGreaterThanOrEqual(-EARLY_TOLERANCE_MS);
    expect(done.history.map((entry: Json) => entry.kind)).toEqual(['scheduled', 'started', 'step_applied', 'paused', 'resumed', 'step_applied', 'step_applied', 'completed']);
    await recordHistory(harness.client.workflow.getHandle(rolloutWorkflowId(key)), 'paused-resumed-apply-overdue');
  });

  it('refuses invalid plans, unknown flags and controls without a running rollout', async () => {
    await harness.createFlag('plain');
    const cases: [unknown, string][] = [
      [{ steps: [] }, 'steps'],
      [{ steps: [{ percentage: 10, after: '1s', at: new Date().toISOString() }] }, 'steps[0].at'],
      [{ steps: [{ percentage: 10 }] }, 'steps[0].at'],
      [{ steps: [{ percentage: 10, after: 'soon' }] }, 'steps[0].after'],
      [{ steps: [{ percentage: 10.0001, after: '1s' }] }, 'steps[0].percentage'],
      [{ steps: [{ distribution: [{ variant: 'A', weight: 100 }], after: '1s' }] }, 'steps[0].distribution[0].variant'],
      [{ steps: [{ percentage: 10, after: '1m' }, { percentage: 20, at: '2000-01-01T00:00:00Z' }] }, 'steps[1].at'],
      [{ steps: [{ percentage: 10, after: '1s' }], gate: { type: 'prometheus', url: 'http://prom:9090', query: 'up' } }, 'gate.max'],
      [{ steps: [{ percentage: 10, after: '1s' }], gate: { type: 'http', url: 'file:///etc/passwd' } }, 'gate.url'],
      [{ steps: [{ percentage: 10, after: '1s' }], minDwell: 'a while' }, 'minDwell'],
      [{ steps: [{ percentage: 10, after: '1s' }], catchUp: 'later' }, 'catchUp'],
    ];
    for (const [body, path] of cases) {
      const response = await harness.api.request('POST', '/v1/flags/plain/rollouts', { body });
      expect([JSON.stringify(body), response.status]).toEqual([JSON.stringify(body), 400]);
      expect(response.body.error.details.issues.map((issue: Json) => issue.path)).toContain(path);
    }
    expect((await harness.api.request('POST', '/v1/flags/ghost/rollouts', { body: { steps: [{ percentage: 10, after: '1s' }] } })).status).toBe(404);
    expect((await harness.api.request('GET', '/v1/flags/plain/rollout')).status).toBe(404);
    expect((await harness.api.request('POST', '/v1/flags/plain/rollout/pause')).status).toBe(404);
    expect((await harness.api.request('POST', '/v1/flags/plain/rollout/cancel')).status).toBe(404);
    // Nothing half-written: no rollout, no event.
    expect(await harness.events('plain', 'flag.rollout_scheduled')).toHaveLength(0);
  });
});
