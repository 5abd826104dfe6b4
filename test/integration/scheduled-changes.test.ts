// Scheduled changes on the real Temporal server and PostgreSQL: a patch applied at its time by its
// own workflow through the normal write path (audit entry, events), cancelled, rescheduled, re-based
// over an edit of other fields, failed and announced over an edit of its own fields, refused while a
// rollout plan owns the rollout, and approved when scheduled on a high-impact flag.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { eventually } from '../support/eventually.ts';
import { recordHistory } from '../support/rollout-worker.ts';
import { scheduledChangeWorkflowId } from '../../src/domain/workflow-ids.ts';

describe('scheduled changes', () => {
  let harness: RolloutHarness;
  /** alice: manage. bob: manage + approve. */
  const tokens: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

  const as = (who: keyof typeof tokens, method: string, path: string, body?: unknown) =>
    harness.api.request(method, path, { token: tokens[who], ...(body === undefined ? {} : { body }) });

  const schedule = (key: string, body: Record<string, unknown>, who: keyof typeof tokens = 'alice') => as(who, 'POST', `/v1/flags/${key}/scheduled-changes`, body);

  async function scheduledChange(key: string, id: string): Promise<Json> {
    const response = await harness.api.request('GET', `/v1/flags/${key}/scheduled-changes/${id}`);
    expect(response.status).toBe(200);
    return response.body;
  }

  async function waitForStatus(key: string, id: string, status: string): Promise<Json> {
    const { value } = await eventually(() => scheduledChange(key, id), (change) => change.status === status, 30_000);
    return value;
  }

  /** With FLAGS_RECORD_HISTORIES=1, keeps the workflow's history for rollout-replay.test.ts, once it has ended. */
  async function record(id: string, name: string): Promise<void> {
    const handle = harness.client.workflow.getHandle(scheduledChangeWorkflowId(id));
    await eventually(async () => (await handle.describe()).status.name, (status) => status !== 'RUNNING', 30_000);
    await recordHistory(handle, name);
  }

  async function eventTypes(key: string): Promise<string[]> {
    return (await harness.events(key)).map((event) => event.type);
  }

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
    for (const [name, scopes] of [['alice', ['feature_flag:manage']], ['bob', ['feature_flag:manage', 'feature_flag:approve']]] as const) {
      const created = await harness.api.request('POST', '/v1/tokens', { body: { name, owner: { id: name }, scopes } });
      tokens[name] = created.body.token;
    }
  });
  afterAll(async () => {
    await harness.close();
  });

  it('applies a patch at its time through the write path, with an audit entry and events, and the workflow visible by its search attributes', async () => {
    const key = 'scheduled-apply';
    await harness.createFlag(key, { description: 'before' });
    const at = new Date(Date.now() + 2_000).toISOString();
    const created = await schedule(key, { patch: { description: 'after', defaultValue: true }, at, version: 1, reason: 'launch' });
    expect(created.status).toBe(201);
    const change = created.body.items[0];
    expect(change).toMatchObject({ flagKey: key, status: 'scheduled', baseVersion: 1, createdBy: 'alice', reason: 'launch', patch: { description: 'after', defaultValue: true }, expected: { description: 'before', defaultValue: false } });
    expect(change.id).toMatch(/^sc_/);
    expect(Date.parse(change.at)).toBe(Date.parse(at));
    expect((await harness.api.request('GET', `/v1/flags/${key}/scheduled-changes`)).body.items.map((item: Json) => item.id)).toEqual([change.id]);

    const handle = harness.client.workflow.getHandle(scheduledChangeWorkflowId(change.id));
    const running = await handle.describe();
    expect(running.status.name).toBe('RUNNING');
    expect(running.typedSearchAttributes.get({ name: 'FlagKey', type: 'KEYWORD' })).toBe(key);
    expect(running.typedSearchAttributes.get({ name: 'ScheduledChangeState', type: 'KEYWORD' })).toBe('scheduled');
    expect(running.typedSearchAttributes.get({ name: 'ScheduledFor', type: 'DATETIME' })?.getTime()).toBe(Date.parse(at));
    expect((await harness.flag(key)).version).toBe(1);

    const applied = await waitForStatus(key, change.id, 'applied');
    expect(applied.result).toEqual({ flagVersion: 2 });
    expect(Date.parse(applied.finishedAt)).toBeGreaterThanOrEqual(Date.parse(at));
    expect(await harness.flag(key)).toMatchObject({ version: 2, description: 'after', defaultValue: true, updatedBy: 'alice' });
    // The worker wrote it; the API process follows through the change feed.
    await eventually(async () => (await harness.api.request('POST', '/v1/evaluate', { body: { flagKey: key, context: { userId: 'u-1' } } })).body.flagVersion, (version) => version === 2, 30_000);

    expect(await eventTypes(key)).toEqual(['flag.created', 'scheduled_change.created', 'flag.updated', 'scheduled_change.applied']);
    const flagEntry = (await harness.api.request('GET', `/v1/flags/${key}/audit`)).body.items.find((item: Json) => item.version === 2);
    expect(flagEntry).toMatchObject({ action: 'flag.updated', actor: 'alice' });
    const changeAudit = await harness.api.request('GET', `/v1/audit?entityType=scheduled_change&entityKey=${change.id}`);
    expect(changeAudit.body.items.map((item: Json) => item.action).reverse()).toEqual(['scheduled_change.created', 'scheduled_change.applied']);
    expect((await harness.api.request('GET', '/v1/audit/verify')).body.ok).toBe(true);

    expect(await handle.result()).toEqual({ status: 'applied', flagVersion: 2 });
    expect((await handle.describe()).typedSearchAttributes.get({ name: 'ScheduledChangeState', type: 'KEYWORD' })).toBe('applied');
    // Done: no longer among the open ones, still listed with status=all.
    expect((await harness.api.request('GET', `/v1/flags/${key}/scheduled-changes`)).body.items).toEqual([]);
    expect((await harness.api.request('GET', `/v1/flags/${key}/scheduled-changes?status=all`)).body.items).toHaveLength(1);
    await record(change.id, 'scheduled-change-applied');
  });

  it('cancels a change before its time: nothing is applied and its workflow ends cancelled', async () => {
    const key = 'scheduled-cancel';
    await harness.createFlag(key);
    const created = await schedule(key, { patch: { enabled: false }, after: '1h', version: 1 });
    const id: string = created.body.items[0].id;
    const cancelled = await as('alice', 'POST', `/v1/flags/${key}/scheduled-changes/${id}/cancel`, { reason: 'not needed' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled' });
    expect(cancelled.body.links.cancel).toBeUndefined();
    const handle = harness.client.workflow.getHandle(scheduledChangeWorkflowId(id));
    await eventually(async () => (await handle.describe()).status.name, (status) => status === 'CANCELLED', 30_000);
    expect(await harness.flag(key)).toMatchObject({ version: 1, enabled: true });
    expect(await eventTypes(key)).toEqual(['flag.created', 'scheduled_change.created', 'scheduled_change.cancelled']);

    const again = await as('alice', 'POST', `/v1/flags/${key}/scheduled-changes/${id}/reschedule`, { after: '1s' });
    expect(again.status).toBe(400);
    expect(again.body.error.message).toMatch(/is cancelled/);
    await record(id, 'scheduled-change-cancelled');
  });

  it('records a cancellation made in the Temporal UI (Temporal cancellation of the workflow)', async () => {
    const key = 'scheduled-cancel-ui';
    await harness.createFlag(key);
    const id: string = (await schedule(key, { patch: { enabled: false }, after: '1h', version: 1 })).body.items[0].id;
    await harness.client.workflow.getHandle(scheduledChangeWorkflowId(id)).cancel();
    const cancelled = await waitForStatus(key, id, 'cancelled');
    expect(cancelled.status).toBe('cancelled');
    const audit = await harness.api.request('GET', `/v1/audit?entityType=scheduled_change&entityKey=${id}`);
    expect(audit.body.items[0]).toMatchObject({ action: 'scheduled_change.cancelled', actor: 'temporal-ui' });
  });

  it('reschedules: an earlier time applies then, a later one holds the change past its old time', async () => {
    const key = 'scheduled-move';
    await harness.createFlag(key);
    const early = (await schedule(key, { patch: { description: 'moved earlier' }, after: '1h', version: 1 })).body.items[0];
    const late = (await schedule(key, { patch: { tags: ['moved-later'] }, after: '5s', version: 1 })).body.items[0];
    const movedLater = await as('alice', 'POST', `/v1/flags/${key}/scheduled-changes/${late.id}/reschedule`, { after: '1h', reason: 'wait for QA' });
    expect(movedLater.status).toBe(200);
    expect(Date.parse(movedLater.body.at)).toBeGreaterThan(Date.now() + 3_500_000);
    const movedEarlier = await as('alice', 'POST', `/v1/flags/${key}/scheduled-changes/${early.id}/reschedule`, { after: '8s' });
    expect(movedEarlier.status).toBe(200);

    // The change moved earlier is applied within seconds; it is the sentinel: the other one's old
    // time (5 s) passed before it, and the other one is still waiting.
    const applied = await waitForStatus(key, early.id, 'applied');
    expect(applied.result).toEqual({ flagVersion: 2 });
    expect(await scheduledChange(key, late.id)).toMatchObject({ status: 'scheduled' });
    expect(await harness.flag(key)).toMatchObject({ version: 2, description: 'moved earlier', tags: [] });
    expect(await eventTypes(key)).toEqual([
      'flag.created', 'scheduled_change.created', 'scheduled_change.created', 'scheduled_change.rescheduled', 'scheduled_change.rescheduled', 'flag.updated', 'scheduled_change.applied',
    ]);
    await record(early.id, 'scheduled-change-rescheduled');
  });

  it('re-bases over an edit of other fields, agrees with an edit to its own value, and fails and announces over an edit of its own fields', async () => {
    const key = 'scheduled-conflict';
    await harness.createFlag(key);
    const rebased = (await schedule(key, { patch: { description: 'scheduled' }, after: '5s', version: 1 })).body.items[0];
    const agreeing = (await schedule(key, { patch: { defaultValue: true }, after: '5s', version: 1 })).body.items[0];
    const conflicting = (await schedule(key, { patch: { tags: ['scheduled'] }, after: '5s', version: 1 })).body.items[0];
    // Someone else edits tags and defaultValue (and so moves the version) before they fire.
    const edit = await as('bob', 'PATCH', `/v1/flags/${key}`, { tags: ['edited'], defaultValue: true, offValue: false, version: 1 });
    expect(edit.status).toBe(200);

    const applied = await waitForStatus(key, rebased.id, 'applied');
    expect(applied.result.rebasedFrom).toBe(1);
    expect((await waitForStatus(key, agreeing.id, 'applied')).result.rebasedFrom).toBe(1);
    const failed = await waitForStatus(key, conflicting.id, 'failed');
    expect(failed.failure).toMatchObject({ code: 'version_conflict', details: { baseVersion: 1, fields: ['tags'] } });
    expect(failed.failure.message).toMatch(/changed tags since version 1/);
    // The edit (2) and the description (3): the agreeing change wrote no version of its own.
    expect(await harness.flag(key)).toMatchObject({ version: 3, description: 'scheduled', defaultValue: true, tags: ['edited'], updatedBy: 'alice' });
    expect(applied.result.flagVersion).toBe(3);
    const announced = await harness.events(key, 'scheduled_change.failed');
    expect(announced.map((event) => event.payload)).toEqual([expect.objectContaining({ scheduledChangeId: conflicting.id, failure: expect.objectContaining({ code: 'version_conflict' }) })]);
    await record(conflicting.id, 'scheduled-change-conflict');
  });

  it('applies several changes at their times, each onto what the earlier one left', async () => {
    const key = 'scheduled-series';
    await harness.createFlag(key);
    const created = await schedule(key, { version: 1, changes: [{ after: '4s', patch: { enabled: true } }, { after: '2s', patch: { enabled: false } }] });
    expect(created.status).toBe(201);
    const [first, second] = created.body.items;
    expect([first.patch, second.patch]).toEqual([{ enabled: false }, { enabled: true }]);
    expect(second.expected).toEqual({ enabled: false });
    await waitForStatus(key, second.id, 'applied');
    expect((await scheduledChange(key, first.id)).result).toEqual({ flagVersion: 2 });
    expect((await scheduledChange(key, second.id)).result).toEqual({ flagVersion: 3, rebasedFrom: 1 });
    expect(await harness.flag(key)).toMatchObject({ version: 3, enabled: true });
  });

  it('refuses a change of the rollout while a rollout plan runs (rollout_conflict), when scheduled and when it fires', async () => {
    const key = 'scheduled-rollout';
    await harness.createFlag(key);
    const early = await schedule(key, { patch: { rollout: { percentage: 50 } }, after: '5s', version: 1 });
    expect(early.status).toBe(201);
    const plan = await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: { steps: [{ percentage: 10, after: '1h' }] } });
    expect(plan.status).toBe(201);
    const refused = await schedule(key, { patch: { rollout: { percentage: 20 } }, after: '1m', version: 1 });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('rollout_conflict');
    const failed = await waitForStatus(key, early.body.items[0].id, 'failed');
    expect(failed.failure.code).toBe('rollout_conflict');
    expect((await harness.flag(key)).rollout).toBeUndefined();
    await harness.api.request('POST', `/v1/flags/${key}/rollout/cancel`, { body: {} });
  });

  it('needs approval when scheduled on a high-impact flag: approved, it applies at its time naming both people; unapproved, it fails at its time', async () => {
    const key = 'scheduled-high-impact';
    await harness.createFlag(key, { highImpact: true });
    const filed = await schedule(key, { patch: { description: 'approved change' }, after: '8s', version: 1, approval: { reason: 'friday release' } });
    expect(filed.status).toBe(202);
    expect(filed.body.error.code).toBe('approval_required');
    const request = filed.body.error.details;
    expect(request).toMatchObject({ kind: 'schedule', status: 'pending', requestedBy: 'alice', reason: 'friday release', diff: [{ path: 'description', before: '', after: 'approved change' }] });
    const [pending] = request.scheduledChanges;
    expect(pending).toMatchObject({ status: 'pending_approval', changeRequestId: request.id });

    const unapproved = (await schedule(key, { patch: { tags: ['never'] }, after: '2s', version: 1 })).body.error.details.scheduledChanges[0];

    const approved = await as('bob', 'POST', `/v1/changes/${request.id}/approve`, { contentHash: request.contentHash });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'applied', approvedBy: 'bob' });
    expect(await scheduledChange(key, pending.id)).toMatchObject({ status: 'scheduled', approvedBy: 'bob' });
    expect((await harness.flag(key)).version).toBe(1);

    const failed = await waitForStatus(key, unapproved.id, 'failed');
    expect(failed.failure.code).toBe('approval_required');
    await waitForStatus(key, pending.id, 'applied');
    expect(await harness.flag(key)).toMatchObject({ version: 2, description: 'approved change', tags: [] });
    const entry = (await harness.api.request('GET', `/v1/flags/${key}/audit`)).body.items.find((item: Json) => item.version === 2);
    expect(entry).toMatchObject({ action: 'flag.updated', actor: 'alice', approver: 'bob' });
  });

  it('refuses bad input with validation_error and writes nothing', async () => {
    const key = 'scheduled-invalid';
    await harness.createFlag(key);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ patch: { defaultValue: 'not a boolean' }, after: '1m', version: 1 }, /defaultValue/],
      [{ patch: { description: 'x' }, at: '2001-01-01T00:00:00Z', version: 1 }, /in the past/],
      [{ patch: { description: 'x' }, after: '400d', version: 1 }, /366 days/],
      [{ patch: { description: 'x' }, version: 1 }, /exactly one of at and after/],
      [{ patch: { version: 3 }, after: '1m', version: 1 }, /owned by the service/],
      [{ patch: { enabled: true }, after: '1m', version: 1 }, /changes nothing/],
      [{ version: 1 }, /either patch/],
    ];
    for (const [body, message] of cases) {
      const response = await schedule(key, body);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_error');
      expect(response.body.error.message).toMatch(message);
    }
    const stale = await schedule(key, { patch: { description: 'x' }, after: '1m', version: 7 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('version_conflict');
    expect((await harness.api.request('GET', `/v1/flags/${key}/scheduled-changes?status=all`)).body.items).toEqual([]);
    expect(await eventTypes(key)).toEqual(['flag.created']);
    expect((await harness.api.request('GET', `/v1/flags/${key}/scheduled-changes/sc_nope`)).status).toBe(404);
  });
});
