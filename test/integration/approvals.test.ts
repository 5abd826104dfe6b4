// Two-person approval on the real Temporal server and PostgreSQL: a change to a high-impact flag
// (patch, archive, restore, a rollout plan, the mark itself) becomes a change request and an
// approval workflow; a second person approves (applied, both names audited) or rejects; the
// requester cannot approve; requests expire, conflict, are cancelled, and survive a worker restart.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { eventually } from '../support/eventually.ts';
import { CHANGE_HISTORIES_DIR, recordHistory, startChildWorker } from '../support/rollout-worker.ts';
import { changeRequestWorkflowId, rolloutWorkflowId } from '../../src/domain/workflow-ids.ts';

const STATUS_ATTRIBUTE = { name: 'ChangeRequestStatus', type: 'KEYWORD' } as const;

describe('two-person approval of high-impact flags', () => {
  let harness: RolloutHarness;
  /** alice: manage. bob: manage + approve. carol: approve only. dave: manage only. */
  const tokens: Record<'alice' | 'bob' | 'carol' | 'dave', string> = { alice: '', bob: '', carol: '', dave: '' };

  const as = (who: keyof typeof tokens, method: string, path: string, body?: unknown) =>
    harness.api.request(method, path, { token: tokens[who], ...(body === undefined ? {} : { body }) });

  /**
   * The request an approval answered for, once applied. The answer waits for the change at most 3 s
   * (FLAGS_TEMPORAL_CALL_TIMEOUT_MS), so on a loaded machine it may come while the change is still
   * being applied (`approved`); the approver then reads the request until it is (docs/approvals.md).
   */
  async function untilApplied(answer: { status: number; body: Json }): Promise<Json> {
    expect(answer.status).toBe(200);
    if (answer.body.status !== 'approved') return answer.body;
    const { value } = await eventually(async () => (await harness.api.request('GET', `/v1/changes/${answer.body.id}`)).body, (current) => current.status !== 'approved', 30_000);
    return value;
  }

  async function highImpactFlag(key: string, extra: Record<string, unknown> = {}): Promise<Json> {
    return harness.createFlag(key, { highImpact: true, ...extra });
  }

  async function changeEvents(requestId: string): Promise<string[]> {
    return (await harness.events(requestId)).map((event) => event.type);
  }

  async function flagAudit(key: string): Promise<Json[]> {
    return (await harness.api.request('GET', `/v1/flags/${key}/audit`)).body.items;
  }

  async function evaluate(key: string): Promise<Json> {
    return (await harness.api.request('POST', '/v1/evaluate', { body: { flagKey: key, context: { userId: 'u-1' } } })).body;
  }

  const record = (requestId: string, name: string) => recordHistory(harness.client.workflow.getHandle(changeRequestWorkflowId(requestId)), name, CHANGE_HISTORIES_DIR);

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness({ worker: false });
    const scopes = {
      alice: ['feature_flag:manage'],
      bob: ['feature_flag:manage', 'feature_flag:approve'],
      carol: ['feature_flag:approve'],
      dave: ['feature_flag:manage'],
    };
    for (const [name, list] of Object.entries(scopes)) {
      const created = await harness.api.request('POST', '/v1/tokens', { body: { name, owner: { id: name }, scopes: list } });
      tokens[name as keyof typeof tokens] = created.body.token;
    }
  });
  afterAll(async () => {
    await harness.close();
  });

  it('keeps a waiting request through a worker restart: filed under one worker, approved after it was killed and another started', async () => {
    const key = 'restart-waits';
    await highImpactFlag(key);
    const first = await startChildWorker({ databaseUrl: harness.api.db.url, taskQueue: harness.taskQueue });
    const filed = await as('alice', 'PATCH', `/v1/flags/${key}`, { description: 'after the restart', version: 1 });
    expect(filed.status).toBe(202);
    const id: string = filed.body.error.details.id;
    const handle = harness.client.workflow.getHandle(changeRequestWorkflowId(id));
    // A query fails until the workflow's first task has run: ask again.
    await eventually(() => handle.query<Json>('status').catch((error: unknown) => ({ status: String(error) })), (answer) => answer.status === 'pending', 30_000);
    await first.kill();
    const second = await startChildWorker({ databaseUrl: harness.api.db.url, taskQueue: harness.taskQueue });
    try {
      // Temporal may hold the workflow on the lost worker for the sticky timeout (2 s) before the new
      // one takes it, so an approval right after the loss may answer 503 within the bound, as an
      // approver would see it; they ask again. An attempt that answered 503 may still have counted,
      // and one accepted late in the bound answers `approved` while the change is being applied.
      const answers: { status: number; body: Json }[] = [];
      await eventually(async () => {
        const answer = await as('bob', 'POST', `/v1/changes/${id}/approve`, {});
        answers.push(answer);
        return answer.status;
      }, (status) => status !== 503, 20_000);
      expect(answers.slice(0, -1).every((answer) => answer.status === 503)).toBe(true);
      const last = answers.at(-1)!;
      if (answers.length === 1) expect(last).toMatchObject({ status: 200, body: { approvedBy: 'bob' } });
      else expect([200, 400]).toContain(last.status);
      const { value: approved } = await eventually(async () => (await as('bob', 'GET', `/v1/changes/${id}`)).body, (current) => current.status === 'applied', 30_000);
      expect(approved).toMatchObject({ status: 'applied', approvedBy: 'bob', result: { flagVersion: 2 } });
      expect((await harness.flag(key)).description).toBe('after the restart');
      await handle.result();
      expect((await handle.describe()).status.name).toBe('COMPLETED');
      await record(id, 'approved-after-worker-restart');
    } finally {
      await second.stop();
    }
  });

  it('files a PATCH of a high-impact flag as a change request (202); a second person approves it and it is applied with both names in the audit', async () => {
    await harness.startWorker();
    const key = 'checkout';
    await highImpactFlag(key, { description: 'New checkout' });
    const filed = await as('alice', 'PATCH', `/v1/flags/${key}`, { defaultValue: true, version: 1, approval: { reason: 'launch day', expiresIn: '1h' } });
    expect(filed.status).toBe(202);
    expect(filed.body.error.code).toBe('approval_required');
    expect(filed.body.error.message).toMatch(/high-impact/);
    const request = filed.body.error.details;
    expect(request).toMatchObject({
      flagKey: key, kind: 'patch', change: { patch: { defaultValue: true } }, baseVersion: 1, status: 'pending',
      requestedBy: 'alice', reason: 'launch day', decision: null, approvedBy: null, result: null, failure: null,
      diff: [{ path: 'defaultValue', before: false, after: true }],
      workflowId: `change:${request.id}`,
      links: { self: `/v1/changes/${request.id}`, approve: `/v1/changes/${request.id}/approve`, reject: `/v1/changes/${request.id}/reject`, cancel: `/v1/changes/${request.id}/cancel` },
    });
    expect(request.id).toMatch(/^cr_/);
    expect(request.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Date.parse(request.expiresAt) - Date.parse(request.createdAt)).toBeGreaterThan(3_590_000);
    expect(filed.headers.get('location')).toBe(`/v1/changes/${request.id}`);

    // Nothing changed yet.
    expect(await harness.flag(key)).toMatchObject({ version: 1, defaultValue: false });
    expect((await evaluate(key)).value).toBe(false);

    // An approver with nothing but feature_flag:approve finds it.
    const pending = await as('carol', 'GET', '/v1/changes?status=pending');
    expect(pending.status).toBe(200);
    expect(pending.body.items.map((item: Json) => item.id)).toContain(request.id);
    expect((await as('carol', 'GET', `/v1/changes/${request.id}`)).body).toMatchObject({ id: request.id, status: 'pending' });

    const handle = harness.client.workflow.getHandle(changeRequestWorkflowId(request.id));
    const running = await handle.describe();
    expect(running.status.name).toBe('RUNNING');
    expect(running.typedSearchAttributes.get(STATUS_ATTRIBUTE)).toBe('pending');
    expect(running.typedSearchAttributes.get({ name: 'FlagKey', type: 'KEYWORD' })).toBe(key);
    expect(await running.staticSummary()).toMatch(/^Change request: patch checkout v1 \(defaultValue\) by alice/);
    // What the Temporal UI shows: the updates with their descriptions, the status query.
    const metadata = await handle.query<{ definition: { updateDefinitions: { name: string; description?: string }[] }; currentDetails: string }>('__temporal_workflow_metadata');
    expect(metadata.definition.updateDefinitions.map((update) => update.name).sort()).toEqual(['approve', 'cancel', 'reject']);
    expect(metadata.currentDetails).toMatch(/^\*\*pending\*\* · patch of `checkout` requested by alice/);

    const approved = await untilApplied(await as('bob', 'POST', `/v1/changes/${request.id}/approve`, { contentHash: request.contentHash, comment: 'looks right' }));
    expect(approved).toMatchObject({
      status: 'applied', approvedBy: 'bob', decision: { status: 'approved', by: 'bob', comment: 'looks right' }, result: { flagVersion: 2 },
    });
    expect(approved.links.approve).toBeUndefined();

    // Applied through the write path, and this process evaluates it at once.
    expect(await harness.flag(key)).toMatchObject({ version: 2, defaultValue: true, updatedBy: 'alice' });
    expect((await evaluate(key)).value).toBe(true);
    const entry = (await flagAudit(key)).find((item) => item.version === 2);
    expect(entry).toMatchObject({ action: 'flag.updated', actor: 'alice', approver: 'bob' });
    expect(await changeEvents(request.id)).toEqual(['change.requested', 'change.approved', 'change.applied']);
    const applied = (await harness.events(request.id, 'change.applied'))[0];
    expect(applied?.payload).toMatchObject({ flagKey: key, requestedBy: 'alice', approvedBy: 'bob', flagVersion: 2, contentHash: request.contentHash });
    const requestAudit = await harness.api.request('GET', `/v1/audit?entityType=change_request&entityKey=${request.id}`);
    expect(requestAudit.body.items.map((item: Json) => [item.action, item.actor, item.approver]).reverse()).toEqual([
      ['change_request.requested', 'alice', null],
      ['change_request.approved', 'bob', null],
      ['change_request.applied', 'alice', 'bob'],
    ]);
    expect((await harness.api.request('GET', '/v1/audit/verify')).body.ok).toBe(true);

    expect(await handle.result()).toMatchObject({ status: 'applied', result: { flagVersion: 2 }, decision: { kind: 'approved', by: 'bob' } });
    expect((await handle.describe()).typedSearchAttributes.get(STATUS_ATTRIBUTE)).toBe('applied');
    await record(request.id, 'approved-applied');

    const again = await as('carol', 'POST', `/v1/changes/${request.id}/approve`, {});
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('validation_error');
    expect(again.body.error.message).toMatch(/is applied, not pending/);
  });

  it('refuses self-approval (permission_denied), approvals without feature_flag:approve, and an approval of other content', async () => {
    const key = 'self-approval';
    await highImpactFlag(key);
    const filed = await as('bob', 'PATCH', `/v1/flags/${key}`, { enabled: false, version: 1 });
    expect(filed.status).toBe(202);
    const id: string = filed.body.error.details.id;

    const self = await as('bob', 'POST', `/v1/changes/${id}/approve`, {});
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('permission_denied');
    expect(self.body.error.message).toMatch(/bob requested this change; a second person must approve it/);

    const noScope = await as('dave', 'POST', `/v1/changes/${id}/approve`, {});
    expect(noScope.status).toBe(403);
    expect(noScope.body.error.message).toMatch(/lacks the scope feature_flag:approve/);

    const otherContent = await as('carol', 'POST', `/v1/changes/${id}/approve`, { contentHash: `sha256:${'0'.repeat(64)}` });
    expect(otherContent.status).toBe(409);
    expect(otherContent.body.error.code).toBe('version_conflict');
    expect(otherContent.body.error.details).toEqual({ contentHash: filed.body.error.details.contentHash });

    // None of those counted: still pending, and a real second person can approve.
    expect((await as('bob', 'GET', `/v1/changes/${id}`)).body.status).toBe('pending');
    expect(await harness.flag(key)).toMatchObject({ version: 1, enabled: true });
    expect(await untilApplied(await as('carol', 'POST', `/v1/changes/${id}/approve`, {}))).toMatchObject({ status: 'applied', approvedBy: 'carol' });
    expect((await flagAudit(key)).find((item) => item.version === 2)).toMatchObject({ actor: 'bob', approver: 'carol' });
  });

  it('compares the people behind tokens: the requester\'s second token (in any case of their id) and a service\'s token cannot approve', async () => {
    const mint = async (name: string, owner: Json, scopes: string[]) => {
      const created = await harness.api.request('POST', '/v1/tokens', { body: { name, owner, scopes } });
      expect(created.status).toBe(201);
      return created.body as Json;
    };
    const laptop = await mint('erin-laptop', { id: 'erin@example.com', name: 'Erin' }, ['feature_flag:manage']);
    const second = await mint('erin-reviews', { id: 'Erin@Example.com' }, ['feature_flag:approve']);
    const robot = await mint('release-bot', { id: 'release-bot', kind: 'service' }, ['feature_flag:approve']);
    const frank = await mint('frank', { id: 'frank@example.com', name: 'Frank' }, ['feature_flag:approve']);

    const key = 'owners-decide';
    await highImpactFlag(key);
    const filed = await harness.api.request('PATCH', `/v1/flags/${key}`, { token: laptop.token, body: { enabled: false, version: 1 } });
    expect(filed.status).toBe(202);
    const id: string = filed.body.error.details.id;
    expect(filed.body.error.details.requestedBy).toBe('erin@example.com');

    const self = await harness.api.request('POST', `/v1/changes/${id}/approve`, { token: second.token, body: {} });
    expect(self.status).toBe(403);
    expect(self.body.error.message).toMatch(/requested this change; a second person must approve it/);
    const bot = await harness.api.request('POST', `/v1/changes/${id}/approve`, { token: robot.token, body: {} });
    expect(bot.status).toBe(403);
    expect(bot.body.error.message).toMatch(/only a person may approve a change request; the token "release-bot" belongs to the service release-bot/);
    expect((await harness.api.request('GET', `/v1/changes/${id}`)).body.status).toBe('pending');

    expect(await untilApplied(await harness.api.request('POST', `/v1/changes/${id}/approve`, { token: frank.token, body: {} }))).toMatchObject({ status: 'applied', approvedBy: 'frank@example.com' });
    expect((await flagAudit(key)).find((item) => item.version === 2)).toMatchObject({ actor: 'erin@example.com', approver: 'frank@example.com' });
    // Each entry names the token it was made with, and the person's readable name.
    const requestAudit = (await harness.api.request('GET', `/v1/audit?entityType=change_request&entityKey=${id}`)).body.items as Json[];
    expect(requestAudit.map((item) => [item.action, item.actor, item.actorName, item.tokenId]).reverse().slice(0, 2)).toEqual([
      ['change_request.requested', 'erin@example.com', 'Erin', laptop.id],
      ['change_request.approved', 'frank@example.com', 'Frank', frank.id],
    ]);
    await record(id, 'approved-by-another-person');
  });

  it('a rejected request changes nothing', async () => {
    const key = 'rejected';
    await highImpactFlag(key);
    const filed = await as('alice', 'POST', `/v1/flags/${key}/archive`, { version: 1, approval: { reason: 'unused' } });
    expect(filed.status).toBe(202);
    const id: string = filed.body.error.details.id;
    expect(filed.body.error.details).toMatchObject({ kind: 'archive', diff: [{ path: 'state', before: 'active', after: 'archived' }], reason: 'unused' });

    const rejected = await as('carol', 'POST', `/v1/changes/${id}/reject`, { reason: 'still used by checkout' });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'rejected', decision: { status: 'rejected', by: 'carol', comment: 'still used by checkout' }, approvedBy: null, result: null });
    expect(await harness.flag(key)).toMatchObject({ version: 1, state: 'active' });
    expect(await changeEvents(id)).toEqual(['change.requested', 'change.rejected']);
    const handle = harness.client.workflow.getHandle(changeRequestWorkflowId(id));
    expect(await handle.result()).toMatchObject({ status: 'rejected' });
    expect((await handle.describe()).typedSearchAttributes.get(STATUS_ATTRIBUTE)).toBe('rejected');
    await record(id, 'rejected');

    const late = await as('bob', 'POST', `/v1/changes/${id}/approve`, {});
    expect(late.status).toBe(400);
    expect(late.body.error.message).toMatch(/is rejected, not pending/);
  });

  it('expires when nobody decides in time (a short expiry), and cannot be approved after', async () => {
    const key = 'expiring';
    await highImpactFlag(key);
    const filed = await as('alice', 'PATCH', `/v1/flags/${key}`, { description: 'too late', version: 1, approval: { expiresIn: '2s' } });
    expect(filed.status).toBe(202);
    const request = filed.body.error.details;
    expect(Date.parse(request.expiresAt) - Date.parse(request.createdAt)).toBeGreaterThanOrEqual(1_900);
    expect(Date.parse(request.expiresAt) - Date.parse(request.createdAt)).toBeLessThan(3_000);

    const { value: expired } = await eventually(async () => (await as('alice', 'GET', `/v1/changes/${request.id}`)).body, (current) => current.status === 'expired', 20_000);
    expect(Date.parse(expired.finishedAt)).toBeGreaterThanOrEqual(Date.parse(request.expiresAt));
    expect(expired).toMatchObject({ decision: null, result: null });
    expect(await changeEvents(request.id)).toEqual(['change.requested', 'change.expired']);
    expect(await harness.flag(key)).toMatchObject({ version: 1, description: '' });

    const late = await as('bob', 'POST', `/v1/changes/${request.id}/approve`, {});
    expect(late.status).toBe(400);
    expect(late.body.error.message).toMatch(/is expired, not pending/);
    const handle = harness.client.workflow.getHandle(changeRequestWorkflowId(request.id));
    expect(await handle.result()).toMatchObject({ status: 'expired' });
    await record(request.id, 'expired');

    const tooLong = await as('alice', 'PATCH', `/v1/flags/${key}`, { description: 'x', version: 1, approval: { expiresIn: '31d' } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.details.issues[0].path).toBe('approval.expiresIn');
  });

  it('a change that lands between request and approval makes the approval a version_conflict, recorded on the request', async () => {
    const key = 'conflicting';
    await highImpactFlag(key);
    const first = await as('alice', 'PATCH', `/v1/flags/${key}`, { description: 'first', version: 1 });
    const second = await as('dave', 'PATCH', `/v1/flags/${key}`, { defaultValue: true, version: 1 });
    expect([first.status, second.status]).toEqual([202, 202]);
    const firstId: string = first.body.error.details.id;
    const secondId: string = second.body.error.details.id;

    expect(await untilApplied(await as('bob', 'POST', `/v1/changes/${secondId}/approve`, {}))).toMatchObject({ status: 'applied', result: { flagVersion: 2 } });
    const conflict = await as('bob', 'POST', `/v1/changes/${firstId}/approve`, {});
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('version_conflict');
    expect(conflict.body.error.message).toMatch(/approved, but the change could not be applied: flag "conflicting" is at version 2, not 1/);
    expect(conflict.body.error.details).toMatchObject({ currentVersion: 2, changeRequest: { id: firstId, status: 'failed' } });

    const failed = (await as('alice', 'GET', `/v1/changes/${firstId}`)).body;
    expect(failed).toMatchObject({ status: 'failed', approvedBy: 'bob', failure: { code: 'version_conflict', details: { currentVersion: 2 } }, result: null });
    expect(await harness.flag(key)).toMatchObject({ version: 2, description: '', defaultValue: true });
    expect(await changeEvents(firstId)).toEqual(['change.requested', 'change.approved', 'change.failed']);
    const handle = harness.client.workflow.getHandle(changeRequestWorkflowId(firstId));
    expect(await handle.result()).toMatchObject({ status: 'failed', failure: { code: 'version_conflict' } });
    expect((await handle.describe()).typedSearchAttributes.get(STATUS_ATTRIBUTE)).toBe('failed');
    await record(firstId, 'conflict-failed');

    const list = await as('alice', 'GET', `/v1/changes?flagKey=${key}&status=failed,applied`);
    expect(list.body.items.map((item: Json) => [item.id, item.status])).toEqual([[secondId, 'applied'], [firstId, 'failed']]);
  });

  it('marking a flag high-impact, or removing the mark, is itself a high-impact change; creating one needs no approval', async () => {
    const key = 'becoming-important';
    const created = await as('alice', 'POST', '/v1/flags', { key, type: 'boolean', defaultValue: false });
    expect(created.status).toBe(201);
    expect((await as('alice', 'PATCH', `/v1/flags/${key}`, { description: 'direct', version: 1 })).status).toBe(200);

    const mark = await as('alice', 'PATCH', `/v1/flags/${key}`, { highImpact: true, version: 2 });
    expect(mark.status).toBe(202);
    expect(mark.body.error.message).toMatch(/marking flag "becoming-important" high-impact is itself a high-impact change/);
    expect((await harness.flag(key)).highImpact).toBe(false);
    expect((await untilApplied(await as('carol', 'POST', `/v1/changes/${mark.body.error.details.id}/approve`, {}))).status).toBe('applied');
    expect(await harness.flag(key)).toMatchObject({ version: 3, highImpact: true });

    const unmark = await as('alice', 'PATCH', `/v1/flags/${key}`, { highImpact: false, version: 3 });
    expect(unmark.status).toBe(202);
    expect((await untilApplied(await as('carol', 'POST', `/v1/changes/${unmark.body.error.details.id}/approve`, {}))).status).toBe('applied');
    expect(await harness.flag(key)).toMatchObject({ version: 4, highImpact: false });

    // Created high-impact directly: there was nothing to protect yet.
    expect((await as('alice', 'POST', '/v1/flags', { key: 'born-important', type: 'boolean', defaultValue: false, highImpact: true })).status).toBe(201);
    // A patch that changes nothing writes nothing and needs nobody.
    const noop = await as('alice', 'PATCH', '/v1/flags/born-important', { defaultValue: false, version: 1 });
    expect(noop.status).toBe(200);
    expect(noop.body.version).toBe(1);
    // A patch that could never apply is refused at once, not filed.
    const invalid = await as('alice', 'PATCH', '/v1/flags/born-important', { defaultValue: 'yes', version: 1 });
    expect(invalid.status).toBe(400);
    const stale = await as('alice', 'PATCH', '/v1/flags/born-important', { description: 'x', version: 7 });
    expect(stale.status).toBe(409);
    expect((await as('alice', 'GET', '/v1/changes?flagKey=born-important')).body.items).toEqual([]);
  });

  it('archiving and restoring a high-impact flag need approval', async () => {
    const key = 'archived-with-approval';
    await highImpactFlag(key);
    const archive = await as('alice', 'POST', `/v1/flags/${key}/archive`);
    expect(archive.status).toBe(202);
    expect(archive.body.error.details).toMatchObject({ kind: 'archive', baseVersion: 1 });
    expect((await untilApplied(await as('bob', 'POST', `/v1/changes/${archive.body.error.details.id}/approve`, {}))).status).toBe('applied');
    expect(await harness.flag(key)).toMatchObject({ version: 2, state: 'archived' });
    expect((await harness.api.request('POST', '/v1/evaluate', { body: { flagKey: key, context: {} } })).status).toBe(404);
    expect((await flagAudit(key)).find((item) => item.version === 2)).toMatchObject({ action: 'flag.archived', actor: 'alice', approver: 'bob' });

    const restore = await as('alice', 'POST', `/v1/flags/${key}/restore`, { version: 2 });
    expect(restore.status).toBe(202);
    expect((await untilApplied(await as('bob', 'POST', `/v1/changes/${restore.body.error.details.id}/approve`, {}))).status).toBe('applied');
    expect(await harness.flag(key)).toMatchObject({ version: 3, state: 'active' });
    expect((await evaluate(key)).reason).toBe('default');
  });

  it('the requester or an admin may cancel a pending request; nobody else', async () => {
    const key = 'withdrawn';
    await highImpactFlag(key);
    const filed = await as('alice', 'PATCH', `/v1/flags/${key}`, { description: 'never mind', version: 1 });
    const id: string = filed.body.error.details.id;
    const other = await as('dave', 'POST', `/v1/changes/${id}/cancel`, {});
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/only alice, who requested it, or an admin may cancel/);
    const cancelled = await as('alice', 'POST', `/v1/changes/${id}/cancel`, { reason: 'wrong flag' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', decision: { status: 'cancelled', by: 'alice', comment: 'wrong flag' } });
    expect(await changeEvents(id)).toEqual(['change.requested', 'change.cancelled']);
    expect(await harness.flag(key)).toMatchObject({ version: 1 });
    await record(id, 'cancelled');

    // An admin may withdraw anyone's; the Temporal UI's Cancel withdraws it too.
    const byAdmin = (await as('alice', 'PATCH', `/v1/flags/${key}`, { description: 'again', version: 1 })).body.error.details.id;
    expect((await harness.api.request('POST', `/v1/changes/${byAdmin}/cancel`, { body: {} })).body).toMatchObject({ status: 'cancelled', decision: { by: 'admin' } });
    const fromUi = (await as('alice', 'PATCH', `/v1/flags/${key}`, { description: 'and again', version: 1 })).body.error.details.id;
    const handle = harness.client.workflow.getHandle(changeRequestWorkflowId(fromUi));
    await handle.cancel();
    const { value: viaTemporal } = await eventually(async () => (await as('alice', 'GET', `/v1/changes/${fromUi}`)).body, (current) => current.status === 'cancelled', 30_000);
    expect(viaTemporal.decision).toMatchObject({ by: 'temporal-ui', comment: 'cancelled through Temporal' });
    // The decision is recorded before the workflow ends: the workflow closes a moment later.
    await eventually(async () => (await handle.describe()).status.name, (status) => status === 'CANCELLED', 30_000);
    await record(fromUi, 'cancelled-through-temporal');
  });

  it('a rollout plan on a high-impact flag waits for approval; approved, its rollout starts and runs', async () => {
    const key = 'approved-rollout';
    await highImpactFlag(key);
    const invalid = await as('alice', 'POST', `/v1/flags/${key}/rollouts`, { steps: [{ distribution: [{ variant: 'nope', weight: 100 }], after: '1s' }] });
    expect(invalid.status).toBe(400);

    const filed = await as('alice', 'POST', `/v1/flags/${key}/rollouts`, {
      steps: [{ percentage: 10, after: '1s' }, { percentage: 50, after: '1s' }], reason: 'ramp', approval: { expiresIn: '10m' },
    });
    expect(filed.status).toBe(202);
    const request = filed.body.error.details;
    expect(request).toMatchObject({ kind: 'rollout', reason: 'ramp', baseVersion: 1, change: { plan: { steps: [{ percentage: 10, after: '1s' }, { percentage: 50, after: '1s' }], onResume: 'shift_schedule' } } });
    expect((await harness.api.request('GET', `/v1/flags/${key}/rollout`)).status).toBe(404);

    const approved = await untilApplied(await as('bob', 'POST', `/v1/changes/${request.id}/approve`, {}));
    expect(approved).toMatchObject({ status: 'applied', result: { rolloutId: expect.stringMatching(/^ro_/) }, links: { rollout: `/v1/flags/${key}/rollout` } });
    const done = await harness.waitForRollout(key, (rollout) => rollout.state === 'completed', 'the approved rollout completed');
    expect(done).toMatchObject({ id: approved.result.rolloutId, startedBy: 'alice', reason: 'ramp', percentage: 50 });
    // Step times count from the approval, not from the request.
    expect(Date.parse(done.steps[0].plannedAt)).toBeGreaterThanOrEqual(Date.parse(approved.decision.at) - 1_000);
    expect((await harness.flag(key)).rollout).toEqual({ percentage: 50 });
    const scheduled = await harness.api.request('GET', `/v1/audit?entityType=rollout&entityKey=${key}&action=rollout.scheduled`);
    expect(scheduled.body.items[0]).toMatchObject({ actor: 'alice', approver: 'bob' });
    await record(request.id, 'rollout-approved');
    expect(await harness.client.workflow.getHandle(rolloutWorkflowId(key)).result()).toEqual({ state: 'completed', currentStep: 1 });
  });

  it('keeps the change request record consistent with the audit chain and outbox', async () => {
    const rows = await harness.api.db.pool.any(sql.type(z.object({ status: z.string(), count: z.number() }))`
      SELECT status, count(*)::int AS count FROM change_requests GROUP BY status ORDER BY status`);
    const counts = Object.fromEntries(rows.map((row) => [row.status, row.count]));
    expect(counts).toMatchObject({ applied: 10, rejected: 1, expired: 1, failed: 1, cancelled: 3 });
    expect(counts.pending).toBeUndefined();
    expect((await harness.api.request('GET', '/v1/audit/verify')).body.ok).toBe(true);
  });
});
