import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

const checkout = {
  key: 'new-checkout',
  type: 'boolean',
  description: 'New checkout flow',
  tags: ['checkout', 'team-payments'],
  defaultValue: false,
  rules: [{ id: 'beta', conditions: [{ attribute: 'country', op: 'in', value: ['DE', 'FR'] }], serve: { value: true } }],
  rollout: { percentage: 25 },
};

describe('flags API', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api.close();
  });

  async function events(entityKey: string) {
    return api.db.pool.any(sql.type(z.object({ id: z.number(), type: z.string(), version: z.number().nullable() }))`
      SELECT id, type, (payload->>'version')::int AS version FROM outbox WHERE entity_key = ${entityKey} ORDER BY id`);
  }

  it('creates a flag at version 1 with an ETag, and reads it back (304 on a matching If-None-Match)', async () => {
    const created = await api.request('POST', '/v1/flags', { body: checkout });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');
    expect(created.body).toMatchObject({ key: 'new-checkout', version: 1, state: 'active', onValue: true, offValue: false, createdBy: 'admin', enabled: true });

    const read = await api.request('GET', '/v1/flags/new-checkout');
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
    const unchanged = await api.request('GET', '/v1/flags/new-checkout', { headers: { 'if-none-match': '"1"' } });
    expect(unchanged.status).toBe(304);
  });

  it('refuses a key that exists, archived or not', async () => {
    const again = await api.request('POST', '/v1/flags', { body: checkout });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('version_conflict');
  });

  it('refuses a value of the wrong type, naming the field', async () => {
    const bad = await api.request('POST', '/v1/flags', { body: { key: 'typed', type: 'number', defaultValue: 'seven' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_error');
    expect(JSON.stringify(bad.body.error.details)).toContain('defaultValue');
  });

  it('words a mistake the same whether a create or a patch makes it', async () => {
    const misspelled = { rules: [{ id: 'r', conditions: [{ attribute: 'country', op: 'equal', value: 'DE' }], serve: { value: true } }] };
    const created = await api.request('POST', '/v1/flags', { body: { key: 'worded', type: 'boolean', defaultValue: false, ...misspelled } });
    expect(created.status).toBe(400);
    expect(created.body.error.details.issues).toEqual([{ path: 'rules[0].conditions[0].op', message: expect.stringMatching(/^unknown op "equal": expected one of equals, /) }]);

    expect((await api.request('POST', '/v1/flags', { body: { key: 'worded', type: 'boolean', defaultValue: false } })).status).toBe(201);
    const patched = await api.request('PATCH', '/v1/flags/worded', { body: misspelled, headers: { 'if-match': '"1"' } });
    expect(patched.status).toBe(400);
    expect(patched.body.error).toEqual({ ...created.body.error, message: expect.any(String) });
    expect(patched.body.error.message).toBe(created.body.error.message.replace(/^invalid body:/, 'invalid flag:'));
  });

  it('answers 404 not_found for an unknown flag', async () => {
    const missing = await api.request('GET', '/v1/flags/no-such-flag');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { code: 'not_found', message: expect.stringContaining('no-such-flag') } });
  });

  it('patches only with the current version, one version per committed change', async () => {
    const noVersion = await api.request('PATCH', '/v1/flags/new-checkout', { body: { description: 'x' } });
    expect(noVersion.status).toBe(409);
    expect(noVersion.body.error.code).toBe('version_conflict');

    const stale = await api.request('PATCH', '/v1/flags/new-checkout', { body: { description: 'x' }, headers: { 'if-match': '"9"' } });
    expect(stale.status).toBe(409);
    expect(stale.body.error.details).toEqual({ currentVersion: 1 });

    const patched = await api.request('PATCH', '/v1/flags/new-checkout', { body: { rollout: { percentage: 50 }, version: 1 } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ version: 2, rollout: { percentage: 50 }, description: 'New checkout flow' });

    const unchanged = await api.request('PATCH', '/v1/flags/new-checkout', { body: { rollout: { percentage: 50 } }, headers: { 'if-match': '"2"' } });
    expect(unchanged.status).toBe(200);
    expect(unchanged.body.version).toBe(2);

    const removed = await api.request('PATCH', '/v1/flags/new-checkout', { body: { rollout: null }, headers: { 'if-match': 'W/"2"' } });
    expect(removed.body.version).toBe(3);
    expect(removed.body.rollout).toBeUndefined();
  });

  it('shows four audit entries with diffs and four events, in order, for create → patch → archive → restore', async () => {
    await api.request('POST', '/v1/flags', { body: { key: 'lifecycle', type: 'string', defaultValue: 'a', variants: { A: 'a', B: 'b' } } });
    const patched = await api.request('PATCH', '/v1/flags/lifecycle', { body: { defaultValue: 'b', version: 1 } });
    expect(patched.status).toBe(200);
    const archived = await api.request('POST', '/v1/flags/lifecycle/archive', { headers: { 'if-match': '"2"' } });
    expect(archived.body).toMatchObject({ state: 'archived', version: 3 });
    const restored = await api.request('POST', '/v1/flags/lifecycle/restore', { body: { version: 3 } });
    expect(restored.body).toMatchObject({ state: 'active', version: 4 });

    const audit = await api.request('GET', '/v1/flags/lifecycle/audit');
    const entries = [...audit.body.items].reverse();
    expect(entries.map((entry: { action: string; version: number }) => [entry.action, entry.version])).toEqual([
      ['flag.created', 1], ['flag.updated', 2], ['flag.archived', 3], ['flag.restored', 4],
    ]);
    expect(entries.every((entry: { actor: string }) => entry.actor === 'admin')).toBe(true);
    expect(entries[0].before).toBeNull();
    expect(entries[1].diff).toEqual([{ path: 'defaultValue', before: 'a', after: 'b' }]);
    expect(entries[2].diff).toEqual([{ path: 'state', before: 'active', after: 'archived' }]);
    expect(entries[3].diff).toEqual([{ path: 'state', before: 'archived', after: 'active' }]);

    expect((await events('lifecycle')).map((event) => [event.type, event.version])).toEqual([
      ['flag.created', 1], ['flag.updated', 2], ['flag.archived', 3], ['flag.restored', 4],
    ]);
  });

  it('refuses prerequisites on missing flags, refuses cycles with the loop in details, and archiving a flag others need', async () => {
    const missing = await api.request('POST', '/v1/flags', { body: { key: 'needs-ghost', type: 'boolean', defaultValue: false, prerequisites: [{ flagKey: 'ghost', value: true }] } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('validation_error');

    await api.request('POST', '/v1/flags', { body: { key: 'cycle-a', type: 'boolean', defaultValue: false } });
    await api.request('POST', '/v1/flags', { body: { key: 'cycle-b', type: 'boolean', defaultValue: false, prerequisites: [{ flagKey: 'cycle-a', value: true }] } });
    const loop = await api.request('PATCH', '/v1/flags/cycle-a', { body: { prerequisites: [{ flagKey: 'cycle-b', value: true }], version: 1 } });
    expect(loop.status).toBe(409);
    expect(loop.body.error.code).toBe('prerequisite_cycle');
    expect(loop.body.error.details.cycle).toEqual(expect.arrayContaining(['cycle-a', 'cycle-b']));
    expect((await api.request('GET', '/v1/flags/cycle-a')).body.version).toBe(1);

    const archiveNeeded = await api.request('POST', '/v1/flags/cycle-a/archive');
    expect(archiveNeeded.status).toBe(400);
    expect(archiveNeeded.body.error.details).toEqual({ dependents: ['cycle-b'] });
  });

  it('lets exactly one of 20 concurrent PATCHes on the same version win, losing and doubling nothing', async () => {
    await api.request('POST', '/v1/flags', { body: { key: 'contended', type: 'number', defaultValue: 0 } });
    const attempts = await Promise.all(
      Array.from({ length: 20 }, (_, index) => api.request('PATCH', '/v1/flags/contended', { body: { defaultValue: index + 1 }, headers: { 'if-match': '"1"' } })),
    );
    const winners = attempts.filter((attempt) => attempt.status === 200);
    expect(winners).toHaveLength(1);
    expect(attempts.filter((attempt) => attempt.status === 409 && attempt.body.error.code === 'version_conflict')).toHaveLength(19);
    const flag = await api.request('GET', '/v1/flags/contended');
    expect(flag.body).toMatchObject({ version: 2, defaultValue: winners[0]!.body.defaultValue });
    expect((await events('contended')).map((event) => event.version)).toEqual([1, 2]);
  });

  it('lists by tag, state, type and prefix, searches key, description and tags, and pages with a cursor', async () => {
    for (const key of ['search-alpha', 'search-beta', 'search-gamma']) {
      await api.request('POST', '/v1/flags', { body: { key, type: 'boolean', defaultValue: false, tags: ['searchable'], description: `the ${key} switch` } });
    }
    const byTag = await api.request('GET', '/v1/flags?tag=searchable&limit=2');
    expect(byTag.body.items.map((flag: { key: string }) => flag.key)).toEqual(['search-alpha', 'search-beta']);
    const next = await api.request('GET', `/v1/flags?tag=searchable&limit=2&cursor=${byTag.body.nextCursor}`);
    expect(next.body.items.map((flag: { key: string }) => flag.key)).toEqual(['search-gamma']);
    expect(next.body.nextCursor).toBeNull();

    expect((await api.request('GET', '/v1/flags?prefix=search-b')).body.items.map((flag: { key: string }) => flag.key)).toEqual(['search-beta']);
    expect((await api.request('GET', '/v1/flags?q=GAMMA')).body.items.map((flag: { key: string }) => flag.key)).toEqual(['search-gamma']);
    expect((await api.request('GET', '/v1/flags?q=payments')).body.items.map((flag: { key: string }) => flag.key)).toEqual(['new-checkout']);
    await api.request('POST', '/v1/flags', { body: { key: 'search-delta', type: 'string', defaultValue: 'blue', tags: ['searchable'] } });
    expect((await api.request('GET', '/v1/flags?tag=searchable&type=string')).body.items.map((flag: { key: string }) => flag.key)).toEqual(['search-delta']);
    expect((await api.request('GET', '/v1/flags?tag=searchable&type=boolean')).body.items.map((flag: { key: string }) => flag.key)).toEqual(['search-alpha', 'search-beta', 'search-gamma']);
    const badType = await api.request('GET', '/v1/flags?type=bool');
    expect(badType.status).toBe(400);
    expect(badType.body.error.details.issues[0].path).toBe('type');
    await api.request('POST', '/v1/flags/search-beta/archive');
    expect((await api.request('GET', '/v1/flags?state=archived')).body.items.map((flag: { key: string }) => flag.key)).toEqual(['search-beta']);

    const tooMany = await api.request('GET', '/v1/flags?limit=5000');
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details.issues[0].path).toBe('limit');
    const badCursor = await api.request('GET', '/v1/flags?cursor=nonsense');
    expect(badCursor.status).toBe(400);
  });
});
