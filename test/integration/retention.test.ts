// Retention on the real Temporal server and PostgreSQL: the worker's schedule (registered
// idempotently, pausable) purges a flag archived 13 months ago with its audit entry and event,
// keeps one archived 11 months ago, leaves the audit chain verifying, and the purged key can be
// created again and evaluated. The dry run lists exactly what a run would purge.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from '../../src/data/sql.ts';
import { ensureRetentionSchedule } from '../../src/worker/retention-schedule.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { eventually } from '../support/eventually.ts';

describe('retention of archived flags', () => {
  let harness: RolloutHarness;
  const scheduleId = `flag-retention-${randomUUID()}`;

  /** Archives the flag through the API, then dates the archiving `months` back (the clock is the database's). */
  async function archivedMonthsAgo(key: string, months: number): Promise<void> {
    const archived = await harness.api.request('POST', `/v1/flags/${key}/archive`, { body: {} });
    expect(archived.status).toBe(200);
    await harness.api.db.pool.query(sql.typeAlias('void')`UPDATE flags SET archived_at = now() - make_interval(months => ${months}) WHERE key = ${key}`);
  }

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
  });
  afterAll(async () => {
    await harness.client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
    await harness.close();
  });

  it('purges a flag archived 13 months ago from its schedule, keeps one archived 11 months ago, and the key can be created again', async () => {
    await harness.createFlag('old-archived', { description: 'gone next run' });
    // History that goes with the row: a scheduled change, cancelled.
    const scheduled = await harness.api.request('POST', '/v1/flags/old-archived/scheduled-changes', { body: { patch: { description: 'never' }, after: '1h', version: 1 } });
    expect((await harness.api.request('POST', `/v1/flags/old-archived/scheduled-changes/${scheduled.body.items[0].id}/cancel`, { body: {} })).status).toBe(200);
    await archivedMonthsAgo('old-archived', 13);
    await harness.createFlag('recent-archived');
    await archivedMonthsAgo('recent-archived', 11);
    await harness.createFlag('still-active');

    // The dry run: exactly the old one; with a shorter period, both.
    const preview = await harness.api.request('GET', '/v1/retention/preview');
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ archiveRetentionDays: 365, items: [{ key: 'old-archived', version: 2 }] });
    const shorter = await harness.api.request('GET', '/v1/retention/preview?archiveRetentionDays=300');
    expect(shorter.body.items.map((item: Json) => item.key)).toEqual(['old-archived', 'recent-archived']);

    // Until it is purged, the key is taken.
    const taken = await harness.api.request('POST', '/v1/flags', { body: { key: 'old-archived', type: 'boolean', defaultValue: false } });
    expect(taken.status).toBe(409);

    // Registered twice (two workers starting): one schedule, with the period as its argument, pausable.
    const cleanup = { cleanupAfterDays: 90, auditCompressAfterDays: 90, evaluationCountsDays: 37, analyticsEventsDays: 7 };
    await ensureRetentionSchedule(harness.client, { taskQueue: harness.taskQueue, archiveRetentionDays: 30, ...cleanup, scheduleId });
    await ensureRetentionSchedule(harness.client, { taskQueue: harness.taskQueue, archiveRetentionDays: 365, ...cleanup, scheduleId });
    const schedule = harness.client.schedule.getHandle(scheduleId);
    const described = await schedule.describe();
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow', args: [{ archiveRetentionDays: 365, ...cleanup }] });
    expect(described.spec.intervals).toEqual([expect.objectContaining({ every: 86_400_000 })]);
    await schedule.pause('checking the pause');
    expect((await schedule.describe()).state.paused).toBe(true);
    await schedule.unpause();

    await schedule.trigger();
    const { value: [purged] } = await eventually(() => harness.events('old-archived', 'flag.purged'), (events) => events.length > 0, 30_000);
    expect(purged?.payload).toMatchObject({ flagKey: 'old-archived', version: 2, actor: 'schedule:flag-retention', removed: { scheduledChanges: 1, rollouts: 0, changeRequests: 0, rolloutHistory: 0 } });
    const { value: run } = await eventually(async () => (await schedule.describe()).info.recentActions[0]?.action.workflow, (value) => value !== undefined, 30_000);
    const result = await harness.client.workflow.getHandle(run!.workflowId, run!.firstExecutionRunId).result();
    expect(result).toMatchObject({ cutoff: expect.any(String), dryRun: false, purged: 1, keys: ['old-archived'], cleanup: expect.any(Object) });

    expect((await harness.api.request('GET', '/v1/flags/old-archived')).status).toBe(404);
    expect((await harness.api.request('GET', '/v1/flags/old-archived/scheduled-changes?status=all')).status).toBe(404);
    expect(await harness.flag('recent-archived')).toMatchObject({ state: 'archived', version: 2 });
    expect(await harness.flag('still-active')).toMatchObject({ state: 'active' });

    // The audit entries stay (the purge adds its own), and the chain verifies.
    const history = await harness.api.request('GET', '/v1/audit?entityType=flag&entityKey=old-archived');
    expect(history.body.items.map((item: Json) => item.action)).toEqual(['flag.purged', 'flag.archived', 'flag.created']);
    expect(history.body.items[0]).toMatchObject({ actor: 'schedule:flag-retention', version: 2 });
    expect((await harness.api.request('GET', '/v1/audit/verify')).body.ok).toBe(true);

    // The key is free again, starts at version 1, and this process evaluates it.
    const again = await harness.createFlag('old-archived', { defaultValue: true });
    expect(again).toMatchObject({ version: 1, state: 'active' });
    await eventually(async () => (await harness.api.request('POST', '/v1/evaluate', { body: { flagKey: 'old-archived', context: { userId: 'u-1' } } })).body.value, (value) => value === true, 30_000);
    expect((await harness.api.request('GET', '/v1/retention/preview')).body.items).toEqual([]);
  });

  it('leaves a flag alone while something still works on it, and answers the preview only to admins', async () => {
    await harness.createFlag('held-archived');
    await harness.api.request('POST', '/v1/flags/held-archived/scheduled-changes', { body: { patch: { description: 'later' }, after: '1h', version: 1 } });
    await harness.createFlag('free-archived');
    await archivedMonthsAgo('held-archived', 14);
    await archivedMonthsAgo('free-archived', 14);
    const keys = (await harness.api.request('GET', '/v1/retention/preview')).body.items.map((item: Json) => item.key);
    expect(keys).toContain('free-archived');
    expect(keys).not.toContain('held-archived');

    const manager = await harness.api.request('POST', '/v1/tokens', { body: { name: 'manager', owner: { id: 'manager' }, scopes: ['feature_flag:manage'] } });
    const refused = await harness.api.request('GET', '/v1/retention/preview', { token: manager.body.token });
    expect(refused.status).toBe(403);
  });
});
