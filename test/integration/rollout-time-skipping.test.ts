// "5% → 25% → 100% over two days" in seconds: Temporal's time-skipping test server runs the real
// rollout workflow with typed fake activities, and each step must land at its absolute target time
// in workflow time, however long the plan.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { createRolloutActivities } from '../../src/activities/rollout-activities.ts';
import { findTemporalTestServer } from '../../src/launcher/temporal-cli.ts';
import type { RolloutWorkflowInput } from '../../src/workflows/rollout-definitions.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { quietTemporal } from '../support/logger.ts';

type RolloutActivities = ReturnType<typeof createRolloutActivities>;

const HOUR = 3_600_000;

describe('a two-day rollout plan on the time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    quietTemporal();
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: findTemporalTestServer() } } });
    // The test server starts with no custom search attributes; register the project's own.
    const types = { Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, Double: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE };
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
    const applied: { percentage: number; targetAt: number; at: number }[] = [];
    const activities: Pick<RolloutActivities, 'applyRolloutStep' | 'checkRolloutGate' | 'recordRolloutTransition' | 'finishRollout'> = {
      async applyRolloutStep(input) {
        const at = await env.currentTimeMs();
        applied.push({ percentage: 'percentage' in input.rollout ? input.rollout.percentage : -1, targetAt: input.targetAt, at });
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
});
