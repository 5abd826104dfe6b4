// The weekly stale-flag report on the real Temporal server and PostgreSQL: the worker's schedule
// (registered idempotently) writes one flag.stale event per owner listing that owner's stale flags
// with the reason; permanent flags are never stale, temporary ones are once past their lifetime.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { ensureStaleReportSchedule } from '../../src/worker/stale-report-schedule.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { eventually } from '../support/eventually.ts';

describe('the weekly flag.stale event per owner', () => {
  let harness: RolloutHarness;
  const scheduleId = `flag-stale-report-${randomUUID()}`;

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
  });
  afterAll(async () => {
    await harness.client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
    await harness.close();
  });

  it('announces each owner\'s stale flags with the reason, and leaves permanent and fresh flags out', async () => {
    await harness.createFlag('a-forgotten', { owner: 'team-a' });
    await harness.createFlag('a-permanent', { owner: 'team-a', expectedLifetime: 'permanent' });
    await harness.createFlag('b-temporary', { owner: 'team-b', expectedLifetime: 7 });
    await harness.createFlag('nobody-s');
    await harness.createFlag('a-fresh', { owner: 'team-a', expectedLifetime: 30 });
    expect(await harness.flag('b-temporary')).toMatchObject({ owner: 'team-b', expectedLifetime: 7 });
    const invalid = await harness.api.request('POST', '/v1/flags', { body: { key: 'bad-lifetime', type: 'boolean', defaultValue: false, expectedLifetime: 'forever' } });
    expect(invalid.status).toBe(400);
    await harness.api.db.pool.query(sql.typeAlias('void')`
      UPDATE flags SET created_at = now() - interval '40 days', updated_at = now() - interval '40 days' WHERE key IN ('a-forgotten', 'a-permanent', 'nobody-s')`);
    await harness.api.db.pool.query(sql.typeAlias('void')`
      UPDATE flags SET created_at = now() - interval '10 days', updated_at = now() - interval '10 days' WHERE key IN ('b-temporary', 'a-fresh')`);

    const listed = await harness.api.request('GET', '/v1/flags?stale=true');
    expect(listed.body.items.map((item: Json) => [item.key, item.stale.reason])).toEqual([
      ['a-forgotten', 'not_evaluated'], ['b-temporary', 'past_lifetime'], ['nobody-s', 'not_evaluated'],
    ]);

    await ensureStaleReportSchedule(harness.client, { taskQueue: harness.taskQueue, stale: { unevaluatedDays: 60, singleValueDays: 14 }, scheduleId });
    await ensureStaleReportSchedule(harness.client, { taskQueue: harness.taskQueue, stale: { unevaluatedDays: 30, singleValueDays: 14 }, scheduleId });
    const schedule = harness.client.schedule.getHandle(scheduleId);
    const described = await schedule.describe();
    expect(described.action).toMatchObject({ workflowType: 'staleFlagReportWorkflow', args: [{ unevaluatedDays: 30, singleValueDays: 14 }] });
    expect(described.spec.intervals).toEqual([expect.objectContaining({ every: 7 * 86_400_000 })]);

    await schedule.trigger();
    const { value: run } = await eventually(async () => (await schedule.describe()).info.recentActions[0]?.action.workflow, (value) => value !== undefined, 30_000);
    expect(await harness.client.workflow.getHandle(run!.workflowId, run!.firstExecutionRunId).result()).toEqual({ owners: 3, flags: 3 });

    const events = await harness.api.db.pool.any(sql.type(z.object({ entity_key: z.string(), payload: z.record(z.string(), z.unknown()) }))`
      SELECT entity_key, payload FROM outbox WHERE type = 'flag.stale' ORDER BY id`);
    expect(events.map((event) => event.entity_key)).toEqual(['team-a', 'team-b', 'unowned']);
    expect(events[0]!.payload).toMatchObject({ owner: 'team-a', count: 1, flags: [{ flagKey: 'a-forgotten', reason: 'not_evaluated', lastEvaluatedAt: null }] });
    expect(events[1]!.payload).toMatchObject({ owner: 'team-b', flags: [{ flagKey: 'b-temporary', reason: 'past_lifetime' }] });
  });
});
