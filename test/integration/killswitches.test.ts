// Killswitches on the real stack: one call turns every flag of a category off (reason `off`) on
// every API process within a second and in the snapshot, audited and evented, and back on release;
// engaging needs feature_flag:killswitch and no approval; a running rollout of the category pauses.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { recordHistory } from '../support/rollout-worker.ts';
import { rolloutWorkflowId } from '../../src/domain/workflow-ids.ts';

/** The bound for another process to see the change; NOTIFY usually makes it tens of ms. */
const PROPAGATION_MS = 1_000;

describe('killswitches', () => {
  let harness: RolloutHarness;
  let second: TestApi;
  let oncall: string;
  let manager: string;

  const evaluate = async (api: TestApi, flagKey: string): Promise<Json> => {
    const response = await api.request('POST', '/v1/evaluate', { body: { flagKey, context: { userId: 'u-7' } } });
    expect(response.status).toBe(200);
    return response.body;
  };

  /** Polls the other process until `predicate` holds for the flag; returns how long that took since `since`. */
  async function timeUntil(api: TestApi, flagKey: string, predicate: (result: Json) => boolean, since: number): Promise<number> {
    await eventually(() => evaluate(api, flagKey), predicate, 10_000, 10);
    return Date.now() - since;
  }

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
    oncall = (await harness.api.request('POST', '/v1/tokens', { body: { name: 'oncall', owner: { id: 'oncall' }, scopes: ['feature_flag:killswitch', 'feature_flag:evaluate'] } })).body.token;
    manager = (await harness.api.request('POST', '/v1/tokens', { body: { name: 'manager', owner: { id: 'manager' }, scopes: ['feature_flag:manage'] } })).body.token;
  });
  afterAll(async () => {
    await second?.close();
    await harness.close();
  });

  it('turns 100 flags off in one call, seen by a second API process within a second, and back on release', async () => {
    const category = 'checkout-v2';
    const keys = Array.from({ length: 100 }, (_, index) => `ks-${String(index).padStart(3, '0')}`);
    for (let start = 0; start < keys.length; start += 10) {
      await Promise.all(keys.slice(start, start + 10).map((key) => harness.createFlag(key, { killswitch: category, defaultValue: true, offValue: false })));
    }
    await harness.createFlag('ks-other-category', { killswitch: 'search', defaultValue: true, offValue: false });
    await harness.createFlag('ks-no-category', { defaultValue: true, offValue: false });
    second = await startTestApi({}, { db: harness.api.db, adminToken: harness.api.adminToken });
    expect(await evaluate(second, 'ks-099')).toMatchObject({ value: true, reason: 'default' });

    const engaged = await harness.api.request('POST', `/v1/killswitches/${category}/engage`, { token: oncall, body: { reason: 'INC-42: checkout errors' } });
    const committedAt = Date.now();
    expect(engaged.status).toBe(200);
    expect(engaged.body).toMatchObject({ category, engaged: true, reason: 'INC-42: checkout errors', updatedBy: 'oncall', changed: true, rollouts: { pausing: [] } });
    expect(engaged.body.flags).toEqual(keys);

    // The writing process answers off at once (read-your-write), the other within a second.
    expect(await evaluate(harness.api, 'ks-000')).toMatchObject({ value: false, reason: 'off' });
    const seenAfter = await timeUntil(second, 'ks-099', (result) => result.reason === 'off', committedAt);
    expect(seenAfter).toBeLessThan(PROPAGATION_MS);
    const all = await Promise.all(keys.map((key) => evaluate(second, key)));
    expect(all.filter((result) => result.reason === 'off' && result.value === false)).toHaveLength(100);
    expect(await evaluate(second, 'ks-other-category')).toMatchObject({ reason: 'default', value: true });
    expect(await evaluate(second, 'ks-no-category')).toMatchObject({ reason: 'default', value: true });
    const snapshot = await second.request('GET', '/v1/snapshot');
    expect(snapshot.body.killswitches).toEqual([category]);

    // One transaction: one event, one audit entry; no flag was rewritten.
    expect((await harness.flag('ks-050')).version).toBe(1);
    const events = await harness.events(category);
    expect(events.map((event) => event.type)).toEqual(['killswitch.engaged']);
    expect(events[0]?.payload).toMatchObject({ category, engaged: true, actor: 'oncall', reason: 'INC-42: checkout errors', flagCount: 100 });
    const audit = await harness.api.request('GET', `/v1/audit?entityType=killswitch&entityKey=${category}`);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({ action: 'killswitch.engaged', actor: 'oncall', before: { engaged: false }, after: { engaged: true } });

    const listed = await harness.api.request('GET', '/v1/killswitches', { token: oncall });
    expect(listed.status).toBe(200);
    const byCategory = Object.fromEntries(listed.body.items.map((item: Json) => [item.category, item]));
    expect(byCategory[category]).toMatchObject({ engaged: true, reason: 'INC-42: checkout errors', updatedBy: 'oncall' });
    expect(byCategory[category].flags).toHaveLength(100);
    expect(byCategory.search).toMatchObject({ engaged: false, flags: ['ks-other-category'], updatedAt: null });

    // Engaging again is a no-op: nothing is written.
    const again = await harness.api.request('POST', `/v1/killswitches/${category}/engage`, { token: oncall, body: {} });
    expect(again.body).toMatchObject({ engaged: true, changed: false, reason: 'INC-42: checkout errors' });
    expect(await harness.events(category)).toHaveLength(1);

    const released = await harness.api.request('POST', `/v1/killswitches/${category}/release`, { token: oncall, body: { reason: 'fixed' } });
    const releasedAt = Date.now();
    expect(released.body).toMatchObject({ category, engaged: false, changed: true, rollouts: { stillPaused: [] } });
    expect(await evaluate(harness.api, 'ks-000')).toMatchObject({ value: true, reason: 'default' });
    expect(await timeUntil(second, 'ks-099', (result) => result.reason !== 'off', releasedAt)).toBeLessThan(PROPAGATION_MS);
    const back = await Promise.all(keys.map((key) => evaluate(second, key)));
    expect(back.filter((result) => result.reason === 'default' && result.value === true)).toHaveLength(100);
    expect((await second.request('GET', '/v1/snapshot')).body.killswitches).toEqual([]);
    expect((await harness.events(category)).map((event) => event.type)).toEqual(['killswitch.engaged', 'killswitch.released']);
    expect((await harness.api.request('GET', '/v1/audit/verify')).body.ok).toBe(true);
  });

  it('needs feature_flag:killswitch to engage or release (no approval, even for high-impact flags), and names categories as keys', async () => {
    await harness.createFlag('ks-important', { killswitch: 'billing', highImpact: true });
    const denied = await harness.api.request('POST', '/v1/killswitches/billing/engage', { token: manager, body: {} });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/lacks the scope feature_flag:killswitch/);
    // Reading is open to managers too.
    expect((await harness.api.request('GET', '/v1/killswitches/billing', { token: manager })).body).toMatchObject({ category: 'billing', engaged: false, flags: ['ks-important'] });

    const engaged = await harness.api.request('POST', '/v1/killswitches/billing/engage', { token: oncall });
    expect(engaged.status).toBe(200);
    expect(engaged.body).toMatchObject({ engaged: true, reason: null, flags: ['ks-important'] });
    expect(await evaluate(harness.api, 'ks-important')).toMatchObject({ reason: 'off' });
    expect((await harness.api.request('GET', '/v1/changes?flagKey=ks-important')).body.items).toEqual([]);
    expect((await harness.api.request('POST', '/v1/killswitches/billing/release', { token: oncall })).body.engaged).toBe(false);

    // A category nobody uses yet may be engaged ahead of time; a flag joining it is off at once.
    expect((await harness.api.request('POST', '/v1/killswitches/not-yet-used/engage', { token: oncall, body: { reason: 'freeze' } })).body).toMatchObject({ engaged: true, flags: [] });
    await harness.createFlag('ks-joins-late', { killswitch: 'not-yet-used', defaultValue: true, offValue: false });
    expect(await evaluate(harness.api, 'ks-joins-late')).toMatchObject({ reason: 'off', value: false });

    expect((await harness.api.request('POST', '/v1/killswitches/Not%20A%20Key/engage', { token: oncall })).status).toBe(400);
    expect((await harness.api.request('GET', '/v1/killswitches/nobody-uses-this')).status).toBe(404);
  });

  it('pauses a running rollout of the category when engaged; a step that falls due while engaged is held', async () => {
    const key = 'ks-rolling';
    await harness.createFlag(key, { killswitch: 'payments' });
    await harness.api.request('POST', `/v1/flags/${key}/rollouts`, { body: { steps: [{ percentage: 10, after: '1s' }, { percentage: 50, after: '1h' }] } });
    const running = await harness.waitForRollout(key, (rollout) => rollout.currentStep === 0, 'first step');

    const engaged = await harness.api.request('POST', '/v1/killswitches/payments/engage', { token: oncall, body: { reason: 'payments down' } });
    expect(engaged.status).toBe(200);
    // The answer does not wait on Temporal: it names the rollouts the worker pauses next.
    expect(engaged.body.rollouts.pausing).toEqual([{ flagKey: key, rolloutId: running.id }]);
    expect(engaged.body.rollouts.note).toMatch(/^A worker pauses these rollouts/);
    const paused = await harness.waitForRollout(key, (rollout) => rollout.state === 'paused', 'paused by the worker', 5_000);
    expect(paused).toMatchObject({ state: 'paused', pause: { cause: 'killswitch', by: 'oncall', reason: 'killswitch "payments" engaged' }, percentage: 10 });
    expect((await harness.events(key, 'flag.rollout_paused')).at(-1)?.payload).toMatchObject({ cause: 'killswitch', actor: 'oncall' });
    expect(await evaluate(harness.api, key)).toMatchObject({ reason: 'off' });

    // Released: the rollout stays paused until someone resumes it deliberately.
    const released = await harness.api.request('POST', '/v1/killswitches/payments/release', { token: oncall });
    expect(released.body.rollouts.stillPaused).toEqual([{ flagKey: key, rolloutId: running.id }]);
    expect((await harness.rollout(key)).state).toBe('paused');
    expect((await harness.api.request('POST', `/v1/flags/${key}/rollout/resume`, { body: { reason: 'payments back' } })).body.state).toBe('running');
    expect((await harness.api.request('POST', `/v1/flags/${key}/rollout/cancel`, { body: {} })).body.state).toBe('cancelled');
    await recordHistory(harness.client.workflow.getHandle(rolloutWorkflowId(key)), 'killswitch-paused-resumed');

    // A plan whose step comes due while the category is engaged holds instead of progressing.
    const held = 'ks-held';
    await harness.createFlag(held, { killswitch: 'payments' });
    await harness.api.request('POST', '/v1/killswitches/payments/engage', { token: oncall });
    await harness.api.request('POST', `/v1/flags/${held}/rollouts`, { body: { steps: [{ percentage: 10, after: '1s' }] } });
    const heldRollout = await harness.waitForRollout(held, (rollout) => rollout.state === 'paused', 'held by the killswitch');
    expect(heldRollout).toMatchObject({ currentStep: -1, pause: { cause: 'killswitch', reason: 'killswitch "payments" is engaged' } });
    expect((await harness.flag(held)).rollout).toBeUndefined();
    await harness.api.request('POST', '/v1/killswitches/payments/release', { token: oncall });
    await harness.api.request('POST', `/v1/flags/${held}/rollout/cancel`, { body: {} });
  });
});
