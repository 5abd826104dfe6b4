// Two-person approval that cannot be bypassed, on the real Temporal server, PostgreSQL and a loopback
// identity provider: a person is one person across their tokens and their JWT; approvers narrowed
// per flag (by identity provider group) are shown to the requester and enforced; a change to a
// segment a high-impact flag uses, and to a flag it depends on as a prerequisite (at any depth),
// becomes one change request listing every high-impact flag it touches.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startLoopbackIdentityProvider, type LoopbackIdentityProvider } from '../support/identity-provider.ts';
import { quietTemporal } from '../support/logger.ts';
import { loopbackPolicy } from '../support/outbound.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { CHANGE_HISTORIES_DIR, recordHistory } from '../support/rollout-worker.ts';
import { changeRequestWorkflowId } from '../../src/domain/workflow-ids.ts';

const REQUESTED_BY_ATTRIBUTE = { name: 'ChangeRequestedBy', type: 'KEYWORD' } as const;

const ROLES = {
  editors: { scopes: ['feature_flag:manage'] },
  approvers: { scopes: ['feature_flag:approve'] },
  'checkout-team': { scopes: ['feature_flag:approve'] },
};

describe('approval that no write path bypasses, for people from tokens and the identity provider', () => {
  let harness: RolloutHarness;
  let idp: LoopbackIdentityProvider;
  /** alice's token (manage) and a second one of hers (approve); bob's token (manage + approve). */
  const tokens = { alice: '', aliceApprover: '', bob: '' };
  const jwts = { alice: '', bob: '', carol: '' };

  const call = (credential: string, method: string, path: string, body?: unknown) => harness.api.request(method, path, { token: credential, ...(body === undefined ? {} : { body }) });
  const audit = async (query: string): Promise<Json[]> => (await harness.api.request('GET', `/v1/audit?${query}`)).body.items;

  beforeAll(async () => {
    quietTemporal();
    idp = await startLoopbackIdentityProvider();
    harness = await startRolloutHarness({ api: { identityProvider: idp.config(ROLES), outboundPolicy: loopbackPolicy } });
    const mint = async (name: string, owner: string, scopes: string[]) =>
      (await harness.api.request('POST', '/v1/tokens', { body: { name, owner: { id: owner }, scopes } })).body.token as string;
    tokens.alice = await mint('alice-laptop', 'alice@example.com', ['feature_flag:manage']);
    tokens.aliceApprover = await mint('alice-ci', 'Alice@Example.com', ['feature_flag:approve']);
    tokens.bob = await mint('bob-laptop', 'bob@example.com', ['feature_flag:manage', 'feature_flag:approve']);
    jwts.alice = await idp.sign({ sub: 'alice@example.com', name: 'Alice', groups: ['editors', 'approvers', 'checkout-team'] });
    jwts.bob = await idp.sign({ sub: 'bob@example.com', name: 'Bob', groups: ['editors', 'approvers'] });
    jwts.carol = await idp.sign({ sub: 'carol@example.com', name: 'Carol', groups: ['editors', 'checkout-team'] });
  });
  afterAll(async () => {
    await harness.close();
    await idp.close();
  });

  it('refuses self-approval through a second token and through the JWT of the person whose token filed it; another person\'s JWT approves', async () => {
    await harness.createFlag('pair-guarded', { highImpact: true });
    const filed = await call(tokens.alice, 'PATCH', '/v1/flags/pair-guarded', { description: 'by alice', version: 1 });
    expect(filed.status).toBe(202);
    const id: string = filed.body.error.details.id;
    expect(filed.body.error.details).toMatchObject({ requestedBy: 'alice@example.com', affectedFlags: ['pair-guarded'], approvers: [] });
    const workflow = await harness.client.workflow.getHandle(changeRequestWorkflowId(id)).describe();
    expect(workflow.typedSearchAttributes.get(REQUESTED_BY_ATTRIBUTE)).toBe('alice@example.com');

    for (const credential of [tokens.aliceApprover, jwts.alice]) {
      const self = await call(credential, 'POST', `/v1/changes/${id}/approve`, {});
      expect(self.status).toBe(403);
      expect(self.body.error.message).toMatch(/alice@example\.com requested this change; a second person must approve it/i);
    }
    const approved = await call(jwts.bob, 'POST', `/v1/changes/${id}/approve`, {});
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'applied', approvedBy: 'bob@example.com' });
    const [entry] = await audit('entityType=flag&entityKey=pair-guarded');
    expect(entry).toMatchObject({ action: 'flag.updated', actor: 'alice@example.com', approver: 'bob@example.com' });
    const decided = (await audit(`entityType=change_request&entityKey=${id}`)).find((item) => item.action === 'change_request.approved');
    expect(decided).toMatchObject({ actor: 'bob@example.com', actorName: 'Bob', tokenId: 'jwt:bob@example.com' });
  });

  it('a JWT\'s request cannot be approved with a token of the same person', async () => {
    await harness.createFlag('jwt-filed', { highImpact: true });
    const filed = await call(jwts.alice, 'POST', '/v1/flags/jwt-filed/archive', { version: 1 });
    expect(filed.status).toBe(202);
    const self = await call(tokens.aliceApprover, 'POST', `/v1/changes/${filed.body.error.details.id}/approve`, {});
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('permission_denied');
  });

  it('narrows who may approve per flag to a group, shows the list to the requester, and refuses anyone outside it', async () => {
    await harness.createFlag('checkout-guarded', { highImpact: true, approvers: ['group:checkout-team'] });
    const filed = await call(jwts.bob, 'PATCH', '/v1/flags/checkout-guarded', { description: 'checkout copy', version: 1 });
    expect(filed.status).toBe(202);
    const id: string = filed.body.error.details.id;
    expect(filed.body.error.details.approvers).toEqual([{ flagKey: 'checkout-guarded', anyOf: ['group:checkout-team'] }]);

    const outsider = await call(tokens.bob, 'POST', `/v1/changes/${id}/approve`, {});
    expect(outsider.status).toBe(403);
    expect(outsider.body.error.message).toMatch(/flag "checkout-guarded" takes approvals only from group:checkout-team/);
    const member = await call(jwts.carol, 'POST', `/v1/changes/${id}/approve`, {});
    expect(member.status).toBe(200);
    expect(member.body).toMatchObject({ status: 'applied', approvedBy: 'carol@example.com' });
    // Management data: SDKs holding the snapshot get no list of people.
    expect((await harness.flag('checkout-guarded')).approvers).toEqual(['group:checkout-team']);
    const snapshot = await harness.api.request('GET', '/v1/snapshot');
    const published = snapshot.body.flags.find((flag: Json) => flag.key === 'checkout-guarded');
    expect(published).toMatchObject({ key: 'checkout-guarded', highImpact: true });
    expect(published).not.toHaveProperty('approvers');
  });

  it('a segment change that reaches high-impact flags (through a rule, and through a prerequisite) becomes one change request listing them', async () => {
    const segment = await harness.api.request('POST', '/v1/segments', { body: { key: 'beta-testers', name: 'Beta', conditions: [{ attribute: 'plan', op: 'equals', value: 'beta' }] } });
    expect(segment.status).toBe(201);
    const usesSegment = { rules: [{ id: 'beta', conditions: [{ segment: 'beta-testers' }], serve: { value: true } }] };
    await harness.createFlag('seg-direct', { highImpact: true, ...usesSegment });
    await harness.createFlag('seg-plain', usesSegment);
    await harness.createFlag('seg-downstream', { highImpact: true, prerequisites: [{ flagKey: 'seg-plain', value: true }] });
    await harness.createFlag('seg-unrelated', { highImpact: true });

    const filed = await call(tokens.alice, 'PATCH', '/v1/segments/beta-testers', { conditions: [{ attribute: 'plan', op: 'in', value: ['beta', 'pro'] }], version: 1, approval: { reason: 'widen the beta' } });
    expect(filed.status).toBe(202);
    const details = filed.body.error.details;
    expect(details).toMatchObject({ kind: 'segment-patch', segmentKey: 'beta-testers', flagKey: 'seg-direct', affectedFlags: ['seg-direct', 'seg-downstream'], baseVersion: 1, reason: 'widen the beta' });
    expect(filed.body.error.message).toMatch(/segment "beta-testers" reaches the high-impact flags "seg-direct", "seg-downstream"/);
    expect((await harness.api.request('GET', '/v1/segments/beta-testers')).body.version).toBe(1);
    const listed = (await harness.api.request('GET', '/v1/changes?flagKey=seg-downstream')).body.items.map((item: Json) => item.id);
    expect(listed).toContain(details.id);

    const approved = await call(tokens.bob, 'POST', `/v1/changes/${details.id}/approve`, {});
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'applied', result: { segmentVersion: 2 } });
    const changed = await harness.api.request('GET', '/v1/segments/beta-testers');
    expect(changed.body).toMatchObject({ version: 2, updatedBy: 'alice@example.com' });
    const [entry] = await audit('entityType=segment&entityKey=beta-testers');
    expect(entry).toMatchObject({ action: 'segment.updated', actor: 'alice@example.com', approver: 'bob@example.com' });
    // The approving process evaluates with the new segment at once.
    const evaluated = await harness.api.request('POST', '/v1/evaluate', { body: { flagKey: 'seg-plain', context: { userId: 'u1', plan: 'pro' } } });
    expect(evaluated.body.value).toBe(true);
    await recordHistory(harness.client.workflow.getHandle(changeRequestWorkflowId(details.id)), 'segment-patch-applied', CHANGE_HISTORIES_DIR);
  });

  it('a change to a prerequisite of a high-impact flag, at any depth, needs approval; a flag that reaches none is written directly', async () => {
    await harness.createFlag('chain-root');
    await harness.createFlag('chain-middle', { prerequisites: [{ flagKey: 'chain-root', value: true }] });
    await harness.createFlag('chain-top', { highImpact: true, prerequisites: [{ flagKey: 'chain-middle', value: true }] });
    await harness.createFlag('chain-free');

    const patched = await call(tokens.alice, 'PATCH', '/v1/flags/chain-root', { defaultValue: true, version: 1 });
    expect(patched.status).toBe(202);
    expect(patched.body.error.details).toMatchObject({ kind: 'patch', flagKey: 'chain-root', affectedFlags: ['chain-top'] });
    expect(patched.body.error.message).toMatch(/flag "chain-root" is a prerequisite of the high-impact flag "chain-top"/);
    expect((await harness.flag('chain-root')).version).toBe(1);

    const plan = await call(tokens.alice, 'POST', '/v1/flags/chain-middle/rollouts', { steps: [{ percentage: 50, after: '1h' }] });
    expect(plan.status).toBe(202);
    expect(plan.body.error.details).toMatchObject({ kind: 'rollout', flagKey: 'chain-middle', affectedFlags: ['chain-top'] });

    expect((await call(tokens.alice, 'PATCH', '/v1/flags/chain-free', { defaultValue: true, version: 1 })).status).toBe(200);

    const approved = await call(tokens.bob, 'POST', `/v1/changes/${patched.body.error.details.id}/approve`, {});
    expect(approved.body).toMatchObject({ status: 'applied', result: { flagVersion: 2 } });
  });
});
