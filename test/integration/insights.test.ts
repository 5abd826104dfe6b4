// Insights and stale flags over real HTTP and PostgreSQL: every evaluation answered (single, bulk,
// OFREP) and every SDK exposure is counted per flag, reason, rule, variant and value, and the counts
// reach the database exactly; flags not evaluated for a while, or serving one value to everyone,
// are listed as stale with the reason.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from '../../src/data/sql.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions that read them
type Json = any;

describe('insights per flag and stale flags', () => {
  let api: TestApi;

  async function create(body: Record<string, unknown>): Promise<void> {
    const created = await api.request('POST', '/v1/flags', { body });
    expect(created.status).toBe(201);
  }

  async function insights(key: string): Promise<Json> {
    await api.deps.insights!.flush();
    const response = await api.request('GET', `/v1/flags/${key}/insights`);
    expect(response.status).toBe(200);
    return response.body;
  }

  beforeAll(async () => {
    api = await startTestApi({}, {});
  });
  afterAll(async () => {
    await api.close();
  });

  it('counts every evaluation of every endpoint, and the SDKs\' exposures, by reason, rule, variant and value', async () => {
    await create({ key: 'half-on', type: 'boolean', defaultValue: false, rollout: { percentage: 50 } });
    await create({
      key: 'layouts', type: 'string', defaultValue: 'plain', variants: { A: 'layout-a', B: 'layout-b' },
      rules: [{ id: 'beta', conditions: [{ attribute: 'beta', op: 'equals', value: true }], serve: { variant: 'B' } }],
    });
    expect((await insights('half-on')).lastEvaluatedAt).toBeNull();

    // 200 single evaluations in parallel batches, 30 bulk, 20 OFREP.
    const users = Array.from({ length: 200 }, (_, index) => `user-${index}`);
    for (let start = 0; start < users.length; start += 50) {
      const answers = await Promise.all(users.slice(start, start + 50).map((userId) => api.request('POST', '/v1/evaluate', { body: { flagKey: 'half-on', context: { userId } } })));
      expect(answers.every((answer) => answer.status === 200)).toBe(true);
    }
    const on = (await Promise.all(users.map((userId) => api.request('POST', '/v1/evaluate', { body: { flagKey: 'half-on', context: { userId } } }))))
      .filter((answer) => answer.body.value === true).length;
    for (let index = 0; index < 30; index += 1) {
      const bulk = await api.request('POST', '/v1/evaluate/bulk', { body: { flagKeys: ['half-on', 'layouts'], context: { userId: `bulk-${index}`, beta: index < 10 } } });
      expect(bulk.status).toBe(200);
    }
    for (let index = 0; index < 20; index += 1) {
      const ofrep = await api.request('POST', '/ofrep/v1/evaluate/flags/layouts', { body: { context: { targetingKey: `o-${index}` } } });
      expect(ofrep.status).toBe(200);
    }
    const reported = await api.request('POST', '/v1/exposures', {
      body: { exposures: Array.from({ length: 5 }, (_, index) => ({ flagKey: 'layouts', flagVersion: 1, reason: 'rule', ruleId: 'beta', variant: 'B', userId: `sdk-${index}`, at: new Date().toISOString() })) },
    });
    expect(reported.status).toBe(202);

    const half = await insights('half-on');
    expect(half.lastEvaluatedAt).not.toBeNull();
    for (const window of ['1h', '24h', '7d', '30d']) expect(half.windows[window].total).toBe(430);
    expect(half.windows['1h'].byReason).toEqual({ percentage: 430 });
    expect(half.windows['1h'].byValue.true + half.windows['1h'].byValue.false).toBe(430);
    // The second round of 200 evaluated the same users as the first: the same answers, twice.
    expect(half.windows['1h'].byValue.true).toBeGreaterThanOrEqual(2 * on);

    const layouts = await insights('layouts');
    expect(layouts.windows['1h']).toEqual({
      total: 55,
      byReason: { rule: 15, default: 40 },
      byRule: { beta: 15 },
      byVariant: { B: 15 },
      byValue: { '"layout-b"': 15, '"plain"': 40 },
    });
  });

  it('counts a flag\'s new version apart from the old one and keeps both in the totals', async () => {
    await create({ key: 'versioned', type: 'boolean', defaultValue: false });
    for (let index = 0; index < 3; index += 1) await api.request('POST', '/v1/evaluate', { body: { flagKey: 'versioned', context: { userId: 'u' } } });
    expect((await api.request('PATCH', '/v1/flags/versioned', { body: { defaultValue: true, version: 1 } })).status).toBe(200);
    for (let index = 0; index < 4; index += 1) await api.request('POST', '/v1/evaluate', { body: { flagKey: 'versioned', context: { userId: 'u' } } });
    const counted = await insights('versioned');
    expect(counted.windows['1h']).toMatchObject({ total: 7, byValue: { false: 3, true: 4 } });
  });

  it('lists stale flags with the reason: not evaluated for a while, or one value to everyone for a while', async () => {
    await create({ key: 'forgotten', type: 'boolean', defaultValue: false, owner: 'team-payments' });
    await create({ key: 'fully-on', type: 'boolean', defaultValue: true, owner: 'Team-Growth' });
    await create({ key: 'split', type: 'boolean', defaultValue: false, rollout: { percentage: 50 } });
    await create({ key: 'fresh', type: 'boolean', defaultValue: false });
    for (let index = 0; index < 20; index += 1) {
      await api.request('POST', '/v1/evaluate/bulk', { body: { flagKeys: ['fully-on', 'split'], context: { userId: `u-${index}` } } });
    }
    await api.deps.insights!.flush();
    // Time passes for three of them: created (and last changed) 40 days ago.
    await api.db.pool.query(sql.typeAlias('void')`
      UPDATE flags SET created_at = now() - interval '40 days', updated_at = now() - interval '40 days' WHERE key IN ('forgotten', 'fully-on', 'split')`);

    const stale = await api.request('GET', '/v1/flags?stale=true&limit=100');
    expect(stale.status).toBe(200);
    const byKey = new Map<string, Json>(stale.body.items.map((item: Json) => [item.key, item]));
    expect(byKey.get('forgotten')).toMatchObject({ key: 'forgotten', state: 'active', stale: { reason: 'not_evaluated', lastEvaluatedAt: null } });
    expect(byKey.get('fully-on')).toMatchObject({ stale: { reason: 'single_value', value: true } });
    expect(byKey.get('fully-on').stale.lastEvaluatedAt).not.toBeNull();
    expect(byKey.has('split')).toBe(false);
    expect(byKey.has('fresh')).toBe(false);

    // Paged in key order, and refused with other filters.
    const first = await api.request('GET', '/v1/flags?stale=true&limit=1');
    expect(first.body.items).toHaveLength(1);
    const second = await api.request('GET', `/v1/flags?stale=true&limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body.items[0].key > first.body.items[0].key).toBe(true);
    expect((await api.request('GET', '/v1/flags?stale=true&state=archived')).status).toBe(400);
  });

  it('filters the list and the stale flags by owner, without regard to case', async () => {
    await create({ key: 'growth-fresh', type: 'boolean', defaultValue: false, owner: 'team-growth' });
    const keys = async (query: string) => (await api.request('GET', `/v1/flags?${query}`)).body.items.map((flag: Json) => flag.key);
    expect(await keys('owner=TEAM-GROWTH')).toEqual(['fully-on', 'growth-fresh']);
    expect(await keys('owner=team-growth&stale=true')).toEqual(['fully-on']);
    expect(await keys('owner=team-payments&stale=true')).toEqual(['forgotten']);
    expect(await keys('owner=nobody')).toEqual([]);
    expect((await api.request('GET', `/v1/flags?owner=${'x'.repeat(201)}`)).status).toBe(400);
  });
});
