// Impact previews on the real service (real HTTP, PostgreSQL, the worker thread): contexts evaluated
// over the API are sampled and flushed; a dry run of a write runs every check, writes nothing, and
// answers the diff, the linter's warnings and the transitions of every flag it reaches over the sample.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { compileFlagSet, evaluate, type Flag } from '@flagship/engine';
import { sql } from '../../src/data/sql.ts';
import { ContextSampler } from '../../src/api/context-sampler.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';
import { testLog } from '../support/logger.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions that read them
type Json = any;

const COUNTRIES = ['NL', 'DE', 'FR', 'US'];
/** 80 known contexts: every country, some pro users, a few without a userId (bucketed by projectId or not at all). */
const CONTEXTS = Array.from({ length: 80 }, (_, index) => ({
  ...(index % 10 === 9 ? { projectId: `project-${index}` } : { userId: `user-${index}` }),
  country: COUNTRIES[index % COUNTRIES.length]!,
  plan: index % 3 === 0 ? 'pro' : 'free',
  // Read by no rule: the sample must not keep it.
  email: `person-${index}@example.com`,
}));

describe('impact preview and dry runs', () => {
  let api: TestApi;

  async function written(): Promise<{ audit: number; outbox: number }> {
    const count = z.object({ count: z.number() });
    return {
      audit: await api.db.pool.oneFirst(sql.type(count)`SELECT count(*)::int AS count FROM audit_log`),
      outbox: await api.db.pool.oneFirst(sql.type(count)`SELECT count(*)::int AS count FROM outbox`),
    };
  }

  async function evaluateAll(flagKey: string): Promise<void> {
    for (const context of CONTEXTS) {
      const answer = await api.request('POST', '/v1/evaluate', { body: { flagKey, context } });
      expect(answer.status).toBe(200);
    }
  }

  async function flag(key: string): Promise<Flag> {
    const read = await api.request('GET', `/v1/flags/${key}`);
    expect(read.status).toBe(200);
    return read.body;
  }

  /** The transitions an independent evaluation of both definitions over the known contexts gives, as "from → to": count. */
  function expectedTransitions(before: Flag[], after: Flag[], flagKey: string): Record<string, number> {
    const liveSet = compileFlagSet({ flags: before, segments: [] });
    const nextSet = compileFlagSet({ flags: after, segments: [] });
    const counts: Record<string, number> = {};
    const describe = (result: ReturnType<typeof evaluate>) => (result ? `${JSON.stringify(result.value)}/${result.reason}` : 'not_found');
    for (const context of CONTEXTS) {
      const cell = `${describe(evaluate(liveSet, flagKey, context))} → ${describe(evaluate(nextSet, flagKey, context))}`;
      counts[cell] = (counts[cell] ?? 0) + 1;
    }
    return counts;
  }

  function reportedTransitions(impact: Json): Record<string, number> {
    return Object.fromEntries(impact.transitions.map((transition: Json) => [
      `${transition.from.reason === 'not_found' ? 'not_found' : `${transition.from.value}/${transition.from.reason}`} → ${transition.to.reason === 'not_found' ? 'not_found' : `${transition.to.value}/${transition.to.reason}`}`,
      transition.count,
    ]));
  }

  beforeAll(async () => {
    api = await startTestApi({}, {});
  });
  afterAll(async () => {
    await api.close();
  });

  it('a dry-run patch reports exactly the transitions an independent evaluation of the sampled contexts gives, and writes nothing', async () => {
    // Some flag of the set reads plan, so the sample keeps it.
    expect((await api.request('POST', '/v1/flags', { body: { key: 'pro-only', type: 'boolean', defaultValue: false, rules: [{ id: 'pro', conditions: [{ attribute: 'plan', op: 'equals', value: 'pro' }], serve: { value: true } }] } })).status).toBe(201);
    const created = await api.request('POST', '/v1/flags', {
      body: { key: 'checkout', type: 'boolean', defaultValue: false, rules: [{ id: 'dutch', conditions: [{ attribute: 'country', op: 'equals', value: 'NL' }], serve: { value: true } }] },
    });
    expect(created.status).toBe(201);
    expect(created.body.warnings).toBeUndefined();
    await evaluateAll('checkout');
    const current = await flag('checkout');
    const before = await written();

    const patch = { rules: [{ id: 'dutch-or-pro', conditions: [{ attribute: 'plan', op: 'equals', value: 'pro' }], serve: { value: true } }], rollout: { percentage: 30 } };
    const dryRun = await api.request('PATCH', '/v1/flags/checkout?dryRun=true', { body: { ...patch, version: 1 } });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body).toMatchObject({ dryRun: true, approvalRequired: null, warnings: [], wouldWrite: { key: 'checkout', version: 2, rollout: { percentage: 30 } } });
    expect(dryRun.body.diff.map((change: Json) => change.path).sort()).toEqual(['rollout', 'rules[0].conditions[0].attribute', 'rules[0].conditions[0].value', 'rules[0].id']);

    const [impact] = dryRun.body.impact.flags;
    expect(dryRun.body.impact.flagsReached).toEqual(['checkout']);
    expect(impact).toMatchObject({ flagKey: 'checkout', sampled: CONTEXTS.length, sample: 'flag', unsampledAttributes: [] });
    const expected = expectedTransitions([current], [{ ...current, ...patch, version: 2 } as Flag], 'checkout');
    expect(reportedTransitions(impact)).toEqual(expected);
    const cells = Object.entries(expected).map(([cell, count]) => ({ from: cell.split(' → ')[0]!, to: cell.split(' → ')[1]!, count }));
    const moved = cells.filter((cell) => cell.from !== cell.to).reduce((sum, cell) => sum + cell.count, 0);
    const valueMoved = cells.filter((cell) => cell.from.split('/')[0] !== cell.to.split('/')[0]).reduce((sum, cell) => sum + cell.count, 0);
    expect(impact).toMatchObject({ changed: moved, valueChanged: valueMoved });
    expect(impact.changedShare).toBeCloseTo(moved / CONTEXTS.length, 10);
    expect(impact.summary).toContain(`(${valueMoved} of ${CONTEXTS.length}) to another value`);

    // Examples carry only attributes a rule reads or that identify, and identities pseudonymised.
    const examples = impact.transitions.flatMap((transition: Json) => transition.examples);
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      expect(Object.keys(example).every((attribute) => ['userId', 'projectId', 'country', 'plan'].includes(attribute))).toBe(true);
      expect(example.userId ?? example.projectId).toMatch(/^anon-[0-9a-f]{12}$/);
    }

    // Nothing written: the version, the audit log, the outbox, and the answers served.
    expect(await written()).toEqual(before);
    expect((await flag('checkout')).version).toBe(1);
    const served = await api.request('POST', '/v1/evaluate', { body: { flagKey: 'checkout', context: { userId: 'user-1', plan: 'pro', country: 'US' } } });
    expect(served.body).toMatchObject({ value: false, reason: 'default', flagVersion: 1 });
  });

  it('the sample holds only the attributes some rule or bucketing reads, and the identity', async () => {
    await api.deps.sampler!.flush();
    const keys = await api.db.pool.anyFirst(sql.type(z.object({ key: z.string() }))`SELECT DISTINCT jsonb_object_keys(context) AS key FROM context_samples ORDER BY 1`);
    expect(keys).toEqual(['country', 'plan', 'projectId', 'userId']);
  });

  it('an invalid dry run answers exactly the real write\'s error, and neither writes', async () => {
    const before = await written();
    const cases: [string, string, unknown][] = [
      ['PATCH', '/v1/flags/checkout', { version: 7, enabled: false }],
      ['PATCH', '/v1/flags/checkout', { version: 1, rules: [{ id: 'r', conditions: [{ attribute: 'a', op: 'equal', value: 1 }], serve: { value: true } }] }],
      ['PATCH', '/v1/flags/checkout', { version: 1, prerequisites: [{ flagKey: 'no-such-flag', value: true }] }],
      ['PATCH', '/v1/flags/no-such-flag', { version: 1, enabled: false }],
      ['POST', '/v1/flags', { key: 'checkout', type: 'boolean', defaultValue: false }],
      ['POST', '/v1/flags/checkout/restore', {}],
      ['PATCH', '/v1/segments/nope', { version: 1, name: 'x' }],
    ];
    for (const [method, path, body] of cases) {
      const dry = await api.request(method, `${path}?dryRun=true`, { body });
      const real = await api.request(method, path, { body });
      expect({ path, body, status: dry.status, error: dry.body }).toEqual({ path, body, status: real.status, error: real.body });
      expect(dry.status).toBeGreaterThanOrEqual(400);
    }
    expect(await written()).toEqual(before);
  });

  it('a segment dry run lists every flag it reaches, through prerequisites too, with each one\'s transitions', async () => {
    expect((await api.request('POST', '/v1/segments', { body: { key: 'pros', name: 'Pro plan', conditions: [{ attribute: 'plan', op: 'equals', value: 'pro' }] } })).status).toBe(201);
    for (const body of [
      { key: 'pro-banner', type: 'boolean', defaultValue: false, rules: [{ id: 'pros', conditions: [{ segment: 'pros' }], serve: { value: true } }] },
      { key: 'pro-export', type: 'string', defaultValue: 'csv', rules: [{ id: 'pros', conditions: [{ segment: 'pros' }], serve: { value: 'xlsx' } }] },
      { key: 'pro-banner-colour', type: 'string', defaultValue: 'grey', onValue: 'gold', prerequisites: [{ flagKey: 'pro-banner', value: true }], rollout: { percentage: 100 } },
    ]) {
      expect((await api.request('POST', '/v1/flags', { body })).status).toBe(201);
    }
    await evaluateAll('pro-banner');
    const before = await written();
    const dryRun = await api.request('PATCH', '/v1/segments/pros?dryRun=true', { body: { version: 1, conditions: [{ attribute: 'plan', op: 'in', value: ['pro', 'team'] }, { attribute: 'country', op: 'equals', value: 'NL' }] } });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.impact.flagsReached).toEqual(['pro-banner', 'pro-banner-colour', 'pro-export']);
    const byKey = Object.fromEntries(dryRun.body.impact.flags.map((impact: Json) => [impact.flagKey, impact]));
    // pro-banner has its own sample; the other two were never evaluated and use the overall one.
    expect(byKey['pro-banner']).toMatchObject({ sample: 'flag', sampled: CONTEXTS.length });
    const pros = CONTEXTS.filter((context) => context.plan === 'pro');
    const leaving = pros.filter((context) => context.country !== 'NL').length;
    expect(byKey['pro-banner'].changed).toBe(leaving);
    expect(reportedTransitions(byKey['pro-banner'])).toEqual({ 'true/rule → false/default': leaving, 'false/default → false/default': CONTEXTS.length - pros.length, 'true/rule → true/rule': pros.length - leaving });
    expect(byKey['pro-banner-colour'].changed).toBeGreaterThan(0);
    expect(byKey['pro-banner-colour'].transitions.find((transition: Json) => transition.to.reason === 'prerequisite_failed')).toBeDefined();
    expect(await written()).toEqual(before);
  });

  it('a rollout plan dry run gives each step\'s share of the sampled contexts, records nothing and starts no workflow', async () => {
    const before = await written();
    const dryRun = await api.request('POST', '/v1/flags/checkout/rollouts?dryRun=true', { body: { steps: [{ percentage: 10, after: '1h' }, { percentage: 50, after: '1h' }, { percentage: 100, after: '1h' }] } });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.wouldWrite).toMatchObject({ state: 'scheduled', flagKey: 'checkout' });
    const current = await flag('checkout');
    const steps = dryRun.body.impact.steps;
    expect(steps.map((step: Json) => step.rollout.percentage)).toEqual([10, 50, 100]);
    // The sampled contexts are the known ones and the one the first test evaluated after its dry run.
    const sampled = [...CONTEXTS, { userId: 'user-1', plan: 'pro', country: 'US' }];
    for (const step of steps) {
      // Independently: who reaches the rollout (no rule holds) and is in it at this percentage.
      const set = compileFlagSet({ flags: [{ ...current, rollout: step.rollout }], segments: [] });
      const inRollout = sampled.filter((context) => evaluate(set, 'checkout', context)?.inRollout === true).length;
      expect({ percentage: step.rollout.percentage, served: step.served, sampled: step.sampled }).toEqual({ percentage: step.rollout.percentage, served: inRollout, sampled: sampled.length });
    }
    expect(steps[2].served).toBe(sampled.filter((context) => context.country !== 'NL').length);
    expect(await written()).toEqual(before);
    expect((await api.request('GET', '/v1/flags/checkout/rollout')).status).toBe(404);
  });

  it('a scheduled change dry run shows the flag once its changes applied, and schedules nothing', async () => {
    const before = await written();
    const dryRun = await api.request('POST', '/v1/flags/checkout/scheduled-changes?dryRun=true', { body: { version: 1, patch: { enabled: false }, after: '2h' } });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.diff).toEqual([expect.objectContaining({ path: 'enabled' })]);
    expect(dryRun.body.impact.flags[0].transitions.every((transition: Json) => transition.to.reason === 'off')).toBe(true);
    expect(await written()).toEqual(before);
    expect((await api.request('GET', '/v1/flags/checkout/scheduled-changes')).body.items).toEqual([]);
  });

  it('an archive dry run shows the traffic that would get not_found and the tokens that asked', async () => {
    await api.deps.insights?.flush();
    const dryRun = await api.request('POST', '/v1/flags/checkout/archive?dryRun=true', { body: { version: 1 } });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.wouldWrite).toMatchObject({ state: 'archived', version: 2 });
    const [impact] = dryRun.body.impact.flags;
    expect(impact.transitions.every((transition: Json) => transition.to.reason === 'not_found')).toBe(true);
    // The known contexts and the one the first test evaluated after its dry run.
    expect(impact.changed).toBe(CONTEXTS.length + 1);
    expect(dryRun.body.impact.archive.recentTokens).toEqual([expect.objectContaining({ token: 'admin', sampledContexts: CONTEXTS.length + 1 })]);
    expect(dryRun.body.impact.archive.trafficShare.evaluations).toBeGreaterThanOrEqual(CONTEXTS.length);
    expect((await flag('checkout')).state).toBe('active');
  });

  it('a killswitch dry run shows what it would turn off, and engages nothing', async () => {
    expect((await api.request('PATCH', '/v1/flags/pro-banner', { body: { version: 1, killswitch: 'promos' } })).status).toBe(200);
    const dryRun = await api.request('POST', '/v1/killswitches/promos/engage?dryRun=true', { body: { reason: 'drill' } });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.impact.flagsReached).toEqual(['pro-banner', 'pro-banner-colour']);
    const banner = dryRun.body.impact.flags.find((impact: Json) => impact.flagKey === 'pro-banner');
    expect(banner.transitions.every((transition: Json) => transition.to.reason === 'off')).toBe(true);
    expect((await api.request('GET', '/v1/killswitches/promos')).body.engaged).toBe(false);
  });

  it('a change request carries its impact from filing, shows it in the Temporal UI summary, and recomputes it on demand', async () => {
    const created = await api.request('POST', '/v1/flags', {
      body: { key: 'big-launch', type: 'boolean', defaultValue: false, highImpact: true, rules: [{ id: 'dutch', conditions: [{ attribute: 'country', op: 'equals', value: 'NL' }], serve: { value: true } }] },
    });
    expect(created.status).toBe(201);
    await evaluateAll('big-launch');
    const filed = await api.request('PATCH', '/v1/flags/big-launch', { body: { version: 1, rules: [], defaultValue: true } });
    expect(filed.status).toBe(202);
    const nonDutch = CONTEXTS.filter((context) => context.country !== 'NL').length;
    const line = `big-launch: moves ${((nonDutch / CONTEXTS.length) * 100).toFixed(1)}% of sampled contexts (${nonDutch} of ${CONTEXTS.length}) to another value, most from false to true; ${CONTEXTS.length - nonDutch} more keep their value for another reason`;
    const request = filed.body.error.details;
    expect(request.impact.summary).toContain(line);
    expect(request.impact.report.flags[0]).toMatchObject({ flagKey: 'big-launch', changed: CONTEXTS.length, valueChanged: nonDutch, sampled: CONTEXTS.length });

    const read = await api.request('GET', `/v1/changes/${request.id}`);
    expect(read.body.impact).toEqual(request.impact);
    const description = await api.deps.temporal.client.workflow.getHandle(request.workflowId).describe();
    expect(await description.staticSummary()).toContain(line);
    expect(await description.staticDetails()).toContain(`**Impact at filing** (sampled contexts): ${line}`);

    // Ten more American users evaluated since: recomputed now, the request moves them too; at filing stays as it was.
    for (let index = 0; index < 10; index++) {
      expect((await api.request('POST', '/v1/evaluate', { body: { flagKey: 'big-launch', context: { userId: `late-${index}`, country: 'US' } } })).status).toBe(200);
    }
    const now = await api.request('GET', `/v1/changes/${request.id}/impact`);
    expect(now.status).toBe(200);
    expect(now.body.atFiling).toEqual(request.impact);
    expect(now.body.now.report.flags[0]).toMatchObject({ flagKey: 'big-launch', valueChanged: nonDutch + 10, sampled: CONTEXTS.length + 10 });
    expect(Date.parse(now.body.now.computedAt)).toBeGreaterThanOrEqual(Date.parse(request.impact.computedAt));
  });

  it('a change request whose preview outlasts the filing wait still answers, and is listed, with its impact', async () => {
    const created = await api.request('POST', '/v1/flags', { body: { key: 'slow-launch', type: 'boolean', defaultValue: false, highImpact: true } });
    expect(created.status).toBe(201);
    const sampled = 100;
    await api.db.pool.query(sql.typeAlias('void')`
      INSERT INTO context_samples (process, scope, slot, context, token, sampled_at)
      SELECT 'bulk', 'slow-launch', slot, jsonb_build_object('userId', 'bulk-' || slot), 'bulk', now() FROM generate_series(1, ${sampled}) AS slot`);
    // The preview cannot read the sample while this transaction holds its table: filing gives up
    // on it for the workflow's summary and starts the workflow (the sentinel), and only then is
    // the sample released.
    const pending = await api.db.pool.transaction(async (tx) => {
      await tx.query(sql.typeAlias('void')`LOCK TABLE context_samples IN ACCESS EXCLUSIVE MODE`);
      const answer = api.request('PATCH', '/v1/flags/slow-launch', { body: { version: 1, defaultValue: true } });
      const runId = z.object({ run_id: z.string().nullable() });
      await eventually(() => tx.maybeOne(sql.type(runId)`SELECT run_id FROM change_requests WHERE flag_key = 'slow-launch'`), (row) => row?.run_id != null, 15_000);
      return { answer };
    });
    const filed = await pending.answer;
    expect(filed.status).toBe(202);
    const request = filed.body.error.details;
    expect(request.impact?.report.flags[0]).toMatchObject({ flagKey: 'slow-launch', valueChanged: sampled, sampled });
    const description = await api.deps.temporal.client.workflow.getHandle(request.workflowId).describe();
    expect(await description.staticSummary()).not.toContain('sampled contexts');
    const listed = await api.request('GET', '/v1/changes?status=pending');
    expect(listed.body.items.find((item: Json) => item.id === request.id).impact).toEqual(request.impact);
  });

  it('every write answers the linter\'s warnings; a high-impact dry run says approval is needed', async () => {
    const created = await api.request('POST', '/v1/flags', { body: { key: 'leaky', type: 'string', defaultValue: 'none', description: 'ask jane@example.com', highImpact: true } });
    expect(created.status).toBe(201);
    expect(created.body.warnings).toEqual([expect.objectContaining({ code: 'personal_data', path: 'description' })]);
    const dryRun = await api.request('PATCH', '/v1/flags/leaky?dryRun=true', { body: { version: 1, onValue: 'sk_live_4eC39HqLyjWDarjtT1zdp7dc', rollout: { percentage: 10, bucketBy: 'accountId' } } });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.approvalRequired).toEqual({ reason: expect.stringContaining('high-impact') });
    expect(dryRun.body.warnings.map((warning: Json) => warning.code).sort()).toEqual(['bucket_attribute_unseen', 'personal_data', 'secret_like_value']);
    // A rule on an attribute no flag read before cannot be judged by the sample, and the impact says so.
    const newAttribute = await api.request('PATCH', '/v1/flags/checkout?dryRun=true', { body: { version: 1, rules: [{ id: 'tier', conditions: [{ attribute: 'tier', op: 'equals', value: 'gold' }], serve: { value: true } }] } });
    expect(newAttribute.body.impact.flags[0].unsampledAttributes).toEqual(['tier']);
    const segment = await api.request('POST', '/v1/segments', { body: { key: 'nobody-uses-me', name: 'Unused', conditions: [{ attribute: 'plan', op: 'equals', value: 'x' }] } });
    expect(segment.body.warnings).toEqual([expect.objectContaining({ code: 'segment_unused' })]);
  });
  it('keeps a uniform sample of fixed size per flag however many contexts it is offered (last: it adds to the overall sample)', async () => {
    const sampler = new ContextSampler({
      db: api.db.pool, log: testLog, live: () => api.deps.flagSet.current,
      config: { size: 500, perFlag: 100, maxRows: 1_000_000, maxContextBytes: 2_048, retentionDays: 7, flushSeconds: 3_600, exposures: false },
    });
    const OFFERED = 50_000;
    for (let index = 0; index < OFFERED; index++) sampler.offer('uniformity', { userId: `u-${index}`, country: 'NL' }, 'sampler-test');
    await sampler.close();
    const kept = await api.db.pool.anyFirst(sql.type(z.object({ id: z.string() }))`SELECT context->>'userId' AS id FROM context_samples WHERE scope = 'uniformity'`);
    expect(kept.length).toBe(100);
    expect(new Set(kept).size).toBe(100);
    // A uniform pick of 100 among 50,000: the mean index is 25,000 give or take 1,443 (one standard
    // error); an early-biased or late-biased reservoir lands far outside five of them.
    const mean = kept.map((id) => Number(id.slice(2))).reduce((sum, index) => sum + index, 0) / kept.length;
    expect(Math.abs(mean - OFFERED / 2)).toBeLessThan(7_500);
    expect(kept.filter((id) => Number(id.slice(2)) >= OFFERED / 2).length).toBeGreaterThan(20);
  });
});
