// Clean-up on the real Temporal server and PostgreSQL: the retention workflow removes rollout plans,
// change requests and scheduled changes finished long ago (their history stays readable through
// the audit API), keeps younger and open ones, compresses audit entries so that the audit API
// returns the same entries and verify stays green, still catches a compressed entry rewritten
// underneath it, drops evaluation counts older than their window while keeping newer ones, and removes
// SDKs' old exposure and tracking batches from the outbox, never a change event nor the newest event.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { z } from 'zod';
import { lastCleanup, pruneAnalyticsEvents } from '../../src/data/cleanup.ts';
import { openWorkerStatusMetrics } from '../../src/worker/worker-status-metrics.ts';
import { sql } from '../../src/data/sql.ts';
import { APPEND_LOCK_KEY } from '../../src/data/append-sequencer.ts';
import { EXPOSURE_EVENT_TYPE, TRACKING_EVENT_TYPE } from '../../src/domain/event-types.ts';
import type { RetentionResult } from '../../src/workflows/retention-definitions.ts';
import { eventually } from '../support/eventually.ts';
import { quietTemporal, testLog } from '../support/logger.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { recordHistory } from '../support/rollout-worker.ts';

describe('clean-up and compressed audit entries', () => {
  let harness: RolloutHarness;

  async function request(method: string, path: string, body?: Json): Promise<Json> {
    const answer = await harness.api.request(method, path, body === undefined ? {} : { body });
    return answer;
  }

  /** Every audit entry, oldest first, as the API returns them (paged through). */
  async function allAuditEntries(): Promise<Json[]> {
    const entries: Json[] = [];
    for (let cursor: string | null = null; ; ) {
      const page = await request('GET', `/v1/audit?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.status).toBe(200);
      entries.push(...page.body.items);
      cursor = page.body.nextCursor ?? null;
      if (cursor === null) break;
    }
    return entries.reverse();
  }

  /** Runs the retention workflow to its end; with `record`, keeps its history as a replay fixture. */
  async function runRetention(input: Record<string, number>, record?: string): Promise<RetentionResult> {
    const handle = await harness.client.workflow.start('retentionWorkflow', {
      taskQueue: harness.taskQueue,
      workflowId: `retention-${randomUUID()}`,
      args: [{ archiveRetentionDays: 365, ...input }],
    });
    const result: RetentionResult = await handle.result();
    if (record) await recordHistory(handle, record);
    return result;
  }

  /** Dates a finished record's end `days` back (the clock is the database's). */
  async function finishedDaysAgo(table: 'rollouts' | 'change_requests' | 'scheduled_changes', id: string, days: number): Promise<void> {
    const tables = { rollouts: sql.identifier(['rollouts']), change_requests: sql.identifier(['change_requests']), scheduled_changes: sql.identifier(['scheduled_changes']) };
    await harness.api.db.pool.query(sql.typeAlias('void')`
      UPDATE ${tables[table]} SET created_at = now() - make_interval(days => ${days + 1}), finished_at = now() - make_interval(days => ${days}) WHERE id = ${id}`);
  }

  async function asOwner<T>(work: (client: pg.Client) => Promise<T>, options: { bypassTriggers?: boolean } = {}): Promise<T> {
    const client = new pg.Client({ connectionString: harness.api.db.ownerUrl });
    await client.connect();
    try {
      if (options.bypassTriggers) await client.query('SET session_replication_role = replica');
      return await work(client);
    } finally {
      await client.end();
    }
  }

  /** A rollout plan, cancelled before its first step: finished. */
  async function cancelledRollout(key: string): Promise<string> {
    await harness.createFlag(key, { rollout: { percentage: 5 } });
    const started = await request('POST', `/v1/flags/${key}/rollouts`, { steps: [{ percentage: 50, after: '1h' }] });
    expect(started.status).toBe(201);
    expect((await request('POST', `/v1/flags/${key}/rollout/cancel`, { reason: 'not now' })).status).toBe(200);
    // On a busy machine the cancel is answered while the workflow is still ending (cancelRollout
    // waits only so long); its end, recorded later, would overwrite the date the test backdates.
    const finishedAt = () => harness.api.db.pool.oneFirst(sql.type(z.object({ finished_at: z.number().nullable() }))`SELECT finished_at FROM rollouts WHERE id = ${started.body.id}`);
    await eventually(finishedAt, (at) => at !== null, 30_000);
    return started.body.id;
  }

  /** A change request of a high-impact flag, cancelled: decided. */
  async function cancelledChangeRequest(key: string): Promise<string> {
    await harness.createFlag(key, { highImpact: true });
    const filed = await request('PATCH', `/v1/flags/${key}`, { description: 'never mind', version: 1 });
    expect(filed.status).toBe(202);
    const id: string = filed.body.error.details.id;
    expect((await request('POST', `/v1/changes/${id}/cancel`, { reason: 'wrong flag' })).status).toBe(200);
    return id;
  }

  async function cancelledScheduledChange(key: string): Promise<string> {
    await harness.createFlag(key);
    const scheduled = await request('POST', `/v1/flags/${key}/scheduled-changes`, { patch: { description: 'never' }, after: '1h', version: 1 });
    expect(scheduled.status).toBe(201);
    const id: string = scheduled.body.items[0].id;
    expect((await request('POST', `/v1/flags/${key}/scheduled-changes/${id}/cancel`, {})).status).toBe(200);
    return id;
  }

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
  });
  afterAll(async () => {
    await harness.close();
  });

  it('removes what finished long ago, keeps what is younger or still open, and the history stays in a log that verifies', async () => {
    const old = {
      rollout: await cancelledRollout('old-plan'),
      changeRequest: await cancelledChangeRequest('old-request'),
      scheduledChange: await cancelledScheduledChange('old-scheduled'),
    };
    const young = {
      rollout: await cancelledRollout('young-plan'),
      changeRequest: await cancelledChangeRequest('young-request'),
      scheduledChange: await cancelledScheduledChange('young-scheduled'),
    };
    // Open ones, however old: a plan waiting for its step, a pending request, a scheduled change.
    await harness.createFlag('open-plan', { rollout: { percentage: 5 } });
    const openRollout = (await request('POST', '/v1/flags/open-plan/rollouts', { steps: [{ percentage: 50, after: '2h' }] })).body.id;
    await harness.createFlag('open-request', { highImpact: true });
    const openRequest = (await request('PATCH', '/v1/flags/open-request', { description: 'waiting', version: 1 })).body.error.details.id;
    await harness.createFlag('open-scheduled');
    const openChange = (await request('POST', '/v1/flags/open-scheduled/scheduled-changes', { patch: { description: 'later' }, after: '2h', version: 1 })).body.items[0].id;

    await finishedDaysAgo('rollouts', old.rollout, 100);
    await finishedDaysAgo('change_requests', old.changeRequest, 100);
    await finishedDaysAgo('scheduled_changes', old.scheduledChange, 100);
    await finishedDaysAgo('rollouts', young.rollout, 80);
    await finishedDaysAgo('change_requests', young.changeRequest, 80);
    await finishedDaysAgo('scheduled_changes', young.scheduledChange, 80);
    await harness.api.db.pool.query(sql.typeAlias('void')`UPDATE rollouts SET created_at = now() - interval '200 days' WHERE id = ${openRollout}`);
    await harness.api.db.pool.query(sql.typeAlias('void')`UPDATE change_requests SET created_at = now() - interval '200 days' WHERE id = ${openRequest}`);
    await harness.api.db.pool.query(sql.typeAlias('void')`UPDATE scheduled_changes SET created_at = now() - interval '200 days' WHERE id = ${openChange}`);

    // The dry run: exactly the old ones.
    const preview = await request('GET', '/v1/retention/cleanup-preview');
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({
      cleanupAfterDays: 90,
      rollouts: [{ id: old.rollout, flagKey: 'old-plan', state: 'cancelled' }],
      changeRequests: [{ id: old.changeRequest, flagKey: 'old-request', status: 'cancelled' }],
      scheduledChanges: [{ id: old.scheduledChange, flagKey: 'old-scheduled', status: 'cancelled' }],
    });
    const wider = await request('GET', '/v1/retention/cleanup-preview?cleanupAfterDays=60');
    expect(wider.body.rollouts.map((item: Json) => item.id)).toEqual([old.rollout, young.rollout]);

    const before = await allAuditEntries();
    expect((await request('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });

    const result = await runRetention({ cleanupAfterDays: 90, auditCompressAfterDays: 0, evaluationCountsDays: 37 }, 'retention-cleanup');
    expect(result.cleanup).toEqual({
      removed: { rollouts: 1, rolloutHistory: expect.any(Number), changeRequests: 1, scheduledChanges: 1 },
      compressedEntries: expect.any(Number),
      compressedBlocks: expect.any(Number),
      prunedEvaluationCounts: 0,
      prunedSnapshotRecords: 0,
    });
    expect(result.cleanup!.removed.rolloutHistory).toBeGreaterThanOrEqual(2);
    expect(result.cleanup!.compressedEntries).toBeGreaterThanOrEqual(before.length);

    // The old ones are gone; the young and the open ones stay.
    expect((await request('GET', `/v1/changes/${old.changeRequest}`)).status).toBe(404);
    expect((await request('GET', `/v1/flags/old-scheduled/scheduled-changes/${old.scheduledChange}`)).status).toBe(404);
    expect((await request('GET', '/v1/flags/old-plan/rollouts')).body.items).toEqual([]);
    expect((await request('GET', `/v1/changes/${young.changeRequest}`)).body).toMatchObject({ status: 'cancelled' });
    expect((await request('GET', `/v1/flags/young-scheduled/scheduled-changes/${young.scheduledChange}`)).body).toMatchObject({ status: 'cancelled' });
    expect((await request('GET', '/v1/flags/young-plan/rollouts')).body.items.map((item: Json) => item.id)).toEqual([young.rollout]);
    expect((await request('GET', `/v1/changes/${openRequest}`)).body).toMatchObject({ status: 'pending' });
    expect((await request('GET', `/v1/flags/open-scheduled/scheduled-changes/${openChange}`)).body).toMatchObject({ status: 'scheduled' });
    expect(await harness.rollout('open-plan')).toMatchObject({ id: openRollout, state: expect.stringMatching(/^(scheduled|running)$/) });

    // The entries were compressed, and the API gives back exactly what it gave before.
    const inline = await harness.api.db.pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count FROM audit_log WHERE id <= ${before.at(-1).id} AND archived_in IS NULL`);
    expect(inline).toBe(0);
    const after = await allAuditEntries();
    expect(after.slice(0, before.length)).toEqual(before);
    expect((await request('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true, problems: [] });

    // The history of what was removed stays readable through the audit API.
    const planHistory = (await request('GET', '/v1/audit?entityType=rollout&entityKey=old-plan')).body.items;
    expect(planHistory.map((entry: Json) => entry.action)).toEqual(['rollout.cancelled', 'rollout.scheduled']);
    expect(planHistory[1].after).toMatchObject({ rolloutId: old.rollout, plan: { steps: [expect.objectContaining({ rollout: { percentage: 50 } })] } });
    const requestHistory = (await request('GET', `/v1/audit?entityType=change_request&entityKey=${old.changeRequest}`)).body.items;
    expect(requestHistory.map((entry: Json) => entry.action)).toEqual(['change_request.cancelled', 'change_request.requested']);
    expect(requestHistory[1].after).toMatchObject({ flagKey: 'old-request', change: { patch: { description: 'never mind' } } });
    const compacted = (await request('GET', '/v1/audit?action=retention.compacted')).body.items;
    expect(compacted).toEqual([expect.objectContaining({
      actor: 'schedule:flag-retention', entityType: 'retention',
      after: expect.objectContaining({ removed: expect.objectContaining({ rollouts: 1 }), rolloutIds: [old.rollout], changeRequestIds: [old.changeRequest], scheduledChangeIds: [old.scheduledChange] }),
    })]);
    expect((await harness.events('schedule:flag-retention', 'retention.compacted'))).toHaveLength(1);

    // A second run finds nothing more to remove, and compresses only what was written since.
    const again = await runRetention({ cleanupAfterDays: 90, auditCompressAfterDays: 0, evaluationCountsDays: 37 });
    expect(again.cleanup!.removed).toEqual({ rollouts: 0, rolloutHistory: 0, changeRequests: 0, scheduledChanges: 0 });
    expect((await request('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
    expect((await allAuditEntries()).slice(0, before.length)).toEqual(before);
  });

  it('moves content out of the log only unchanged, and verify still names a compressed entry rewritten underneath it', async () => {
    await harness.createFlag('tampered', { description: 'as written' });
    await runRetention({ cleanupAfterDays: 90, auditCompressAfterDays: 0, evaluationCountsDays: 37 });
    const created = (await request('GET', '/v1/audit?entityType=flag&entityKey=tampered')).body.items[0];
    expect(created).toMatchObject({ action: 'flag.created', after: expect.objectContaining({ description: 'as written' }) });

    // An entry written after the run: still whole, the one the owner tries to move below.
    await harness.createFlag('written-later');
    // Not the application's role: it may not update the log at all.
    const app = new pg.Client({ connectionString: harness.api.db.url });
    await app.connect();
    await expect(app.query('SELECT 1 FROM audit_archive LIMIT 1')).resolves.toBeDefined();
    await expect(app.query("UPDATE audit_archive SET content = '{}'")).rejects.toThrow(/permission denied/);
    await app.end();
    // Not even the owner, through the triggers: a block holding other content is refused.
    const newest = await asOwner(async (client) => Number((await client.query('SELECT max(id) AS id FROM audit_log')).rows[0].id));
    await asOwner(async (client) => {
      await client.query('BEGIN');
      await client.query(`INSERT INTO audit_archive (first_id, last_id, content) VALUES ($1, $1, jsonb_build_object($2::text, '[null, null, []]'::jsonb))`, [newest + 1_000_000, String(newest)]);
      await expect(client.query('UPDATE audit_log SET before = NULL, after = NULL, diff = NULL, archived_in = $1 WHERE id = $2', [newest + 1_000_000, newest])).rejects.toThrow(/append-only/);
      await client.query('ROLLBACK');
      await expect(client.query(`UPDATE audit_archive SET content = '{}' WHERE first_id = (SELECT archived_in FROM audit_log WHERE id = $1)`, [created.id])).rejects.toThrow(/append-only/);
    });

    // A superuser with the triggers off rewrites the compressed entry: verify names it.
    await asOwner(async (client) => {
      await client.query(`UPDATE audit_archive SET content = jsonb_set(content, ARRAY[$1::text, '1', 'description'], '"rewritten"')
        WHERE first_id = (SELECT archived_in FROM audit_log WHERE id = $1::bigint)`, [String(created.id)]);
    }, { bypassTriggers: true });
    const verified = (await request('GET', '/v1/audit/verify')).body;
    expect(verified).toMatchObject({ ok: false, firstBadId: created.id, problem: 'content_changed' });
    expect(verified.problems).toEqual([expect.objectContaining({ id: created.id, problem: 'content_changed' })]);
  });

  it('drops evaluation counts older than their window and keeps newer ones', async () => {
    const counts = z.object({ flag_key: z.string(), days: z.number() });
    await harness.api.db.pool.query(sql.typeAlias('void')`
      INSERT INTO flag_evaluation_counts (flag_key, hour, reason, count)
      VALUES ('counted', date_trunc('hour', now()) - interval '40 days', 'default', 7),
             ('counted', date_trunc('hour', now()) - interval '36 days', 'default', 5),
             ('counted', date_trunc('hour', now()) - interval '1 day', 'default', 3)`);
    const result = await runRetention({ cleanupAfterDays: 90, auditCompressAfterDays: 90, evaluationCountsDays: 37 });
    expect(result.cleanup!.prunedEvaluationCounts).toBe(1);
    const left = await harness.api.db.pool.any(sql.type(counts)`
      SELECT flag_key, round(extract(epoch FROM date_trunc('hour', now()) - hour) / 86400)::int AS days FROM flag_evaluation_counts WHERE flag_key = 'counted' ORDER BY hour`);
    expect(left.map((row) => row.days)).toEqual([36, 1]);
  });

  it('drops the records of snapshots published before the clean-up age, but never the newest', async () => {
    // Versions far above any the publisher reaches here, so the newest stays the test's own.
    const base = 9_000_000_000_000;
    const fake = (version: number, daysAgo: number) => sql.fragment`(${version}, 'etag', 1, 'signature', 'nowhere', now() - make_interval(days => ${daysAgo}))`;
    await harness.api.db.pool.query(sql.typeAlias('void')`
      INSERT INTO snapshots (version, etag, bytes, signature, location, published_at)
      VALUES ${sql.join([fake(base + 1, 100), fake(base + 2, 100), fake(base + 3, 80), fake(base + 4, 100)], sql.fragment`, `)}`);
    const result = await runRetention({ cleanupAfterDays: 90, auditCompressAfterDays: 90, evaluationCountsDays: 37 });
    expect(result.cleanup!.prunedSnapshotRecords).toBe(2);
    const left = await harness.api.db.pool.anyFirst(sql.type(z.object({ version: z.number() }))`SELECT version FROM snapshots WHERE version > ${base} ORDER BY version`);
    expect(left).toEqual([base + 3, base + 4]);
    await harness.api.db.pool.query(sql.typeAlias('void')`DELETE FROM snapshots WHERE version > ${base}`);
  });

  it("records when it completed, which the workers' status metrics report (absent before the first run)", async () => {
    const metrics = await openWorkerStatusMetrics({ databaseUrl: harness.api.db.url, temporalAddress: harness.address, namespace: harness.namespace, taskQueue: harness.taskQueue, log: testLog });
    const completed = async () => /^flags_retention_cleanup_completed_timestamp_seconds\{schedule="flag-retention"\} (\S+)$/m.exec(await metrics.registry.metrics())?.[1];
    try {
      await harness.api.db.pool.query(sql.typeAlias('void')`DELETE FROM maintenance_runs`);
      expect(await completed()).toBeUndefined();
      const before = Date.now();
      const result = await runRetention({ cleanupAfterDays: 90, auditCompressAfterDays: 90, evaluationCountsDays: 37 });
      const last = await lastCleanup(harness.api.db.pool);
      expect(last!.result).toMatchObject({ cleanupAfterDays: 90, ...result.cleanup });
      const seconds = Number(await completed());
      // The database's clock and this process's may differ by a little.
      expect(seconds * 1000).toBeGreaterThan(before - 5_000);
      expect(seconds * 1000).toBeLessThan(Date.now() + 5_000);
    } finally {
      await metrics.close();
    }
  });

  describe("SDKs' exposure and tracking batches", () => {
    const idRow = z.object({ id: z.number() });
    // In a running service ids follow time; the events written before are dated back so that they do here too.
    const ageEverything = () => harness.api.db.pool.query(sql.typeAlias('void')`UPDATE outbox SET at = at - interval '400 days'`);
    const append = (type: string, daysAgo: number) => harness.api.db.pool.transaction(async (tx) => {
      await tx.query(sql.typeAlias('void')`SELECT pg_advisory_xact_lock(${APPEND_LOCK_KEY})`);
      return tx.oneFirst(sql.type(idRow)`
        INSERT INTO outbox (type, entity_key, payload, at) VALUES (${type}, NULL, ${sql.jsonb({ count: 1 })}, now() - make_interval(days => ${daysAgo})) RETURNING id`);
    });
    const present = async (ids: number[]) => harness.api.db.pool.anyFirst(sql.type(idRow)`SELECT id FROM outbox WHERE id = ANY(${sql.array(ids, 'int8')}) ORDER BY id`);
    const settings = { cleanupAfterDays: 90, auditCompressAfterDays: 90, evaluationCountsDays: 37 };

  it('are removed once older than their days, but no change event and never the newest event', async () => {

    await ageEverything();
    const oldExposure = await append(EXPOSURE_EVENT_TYPE, 10);
    const oldChange = await append('retention.compacted', 10);
    const oldTracking = await append(TRACKING_EVENT_TYPE, 9);
    const youngExposure = await append(EXPOSURE_EVENT_TYPE, 2);
    const first = await runRetention({ ...settings, analyticsEventsDays: 7 }, 'retention-cleanup-analytics');
    expect(first.cleanup!.prunedAnalyticsEvents).toBe(2);
    expect(await present([oldExposure, oldChange, oldTracking, youngExposure])).toEqual([oldChange, youngExposure]);

    // Nothing younger than the cutoff is left: the newest event stays all the same.
    await ageEverything();
    const newestExposure = await append(EXPOSURE_EVENT_TYPE, 30);
    const second = await runRetention({ ...settings, analyticsEventsDays: 7 });
    expect(second.cleanup!.prunedAnalyticsEvents).toBe(1);
    expect(await present([oldChange, youngExposure, newestExposure])).toEqual([oldChange, newestExposure]);

    // A schedule registered before analytics events were removed asks for no such removal.
    const without = await runRetention(settings);
    expect(without.cleanup!.prunedAnalyticsEvents).toBeUndefined();
  });

  it('are removed in statements that each look through a bounded stretch of ids, up to where the kept events begin', async () => {
    await ageEverything();
    const old: number[] = [];
    const kept: number[] = [];
    for (let index = 0; index < 12; index += 1) {
      old.push(await append(index % 3 === 2 ? TRACKING_EVENT_TYPE : EXPOSURE_EVENT_TYPE, 30 - index));
      if (index % 4 === 0) kept.push(await append('retention.compacted', 30 - index));
    }
    for (let index = 0; index < 5; index += 1) kept.push(await append(EXPOSURE_EVENT_TYPE, 6 - index));
    // The earlier test's newest exposure is old now, and no longer the newest: it goes too.
    const due = await harness.api.db.pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count FROM outbox WHERE type IN (${EXPOSURE_EVENT_TYPE}, ${TRACKING_EVENT_TYPE}) AND at < now() - interval '7 days'`);
    expect(due).toBeGreaterThanOrEqual(old.length);
    const statements: number[] = [];
    await pruneAnalyticsEvents(harness.api.db.pool, { cutoff: Date.now() - 7 * 86_400_000, limit: 2, window: 3 }, (pruned) => statements.push(pruned));
    expect(statements.reduce((sum, pruned) => sum + pruned, 0)).toBe(due);
    expect(Math.max(...statements)).toBeLessThanOrEqual(2);
    expect(await present([...old, ...kept])).toEqual([...kept].sort((a, b) => a - b));
  });
  });
});
