import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { eventually } from '../support/eventually.ts';

// Two API processes on one database, as in production: each holds every live token in memory.
describe('the live token set', () => {
  let first: TestApi;
  let second: TestApi;

  beforeAll(async () => {
    first = await startTestApi();
    second = await startTestApi({}, { db: first.db, adminToken: first.adminToken });
    await first.request('POST', '/v1/flags', { body: { key: 'tokened', type: 'boolean', defaultValue: true } });
    await second.deps.flagSet.refresh();
  });

  afterAll(async () => {
    await second.close();
    await first.close();
  });

  const evaluate = (api: TestApi, token: string) => api.request('POST', '/v1/evaluate', { token, body: { flagKey: 'tokened', context: { userId: 'u' } } });

  it('lets a token created on one process work on the other within a second, and a revoked one stop within a second', async () => {
    const created = await first.request('POST', '/v1/tokens', { body: { name: 'travelling', owner: { id: 'svc-travelling', kind: 'service' }, scopes: ['feature_flag:evaluate'] } });
    expect((await evaluate(first, created.body.token)).status).toBe(200);
    const learned = await eventually(() => evaluate(second, created.body.token), (answer) => answer.status === 200, 5_000, 5);
    expect(learned.ms).toBeLessThan(1_000);

    const revoked = await first.request('DELETE', `/v1/tokens/${created.body.id}`);
    expect(revoked.status).toBe(200);
    // The revoking process refuses it at once, the other within a second.
    expect((await evaluate(first, created.body.token)).status).toBe(401);
    const refused = await eventually(() => evaluate(second, created.body.token), (answer) => answer.status === 401, 5_000, 5);
    expect(refused.ms).toBeLessThan(1_000);
    expect(refused.value.body.error.code).toBe('unauthenticated');
  });

  it('authenticates without asking the database: a token answers while its row is unreadable', async () => {
    const created = await first.request('POST', '/v1/tokens', { body: { name: 'memory-only', owner: { id: 'svc-memory', kind: 'service' }, scopes: ['feature_flag:evaluate'] } });
    // Lock the tokens table against reads for the length of the requests: a lookup would wait on it.
    const locked = first.db.pool.transaction(async (tx) => {
      await tx.query(sql.typeAlias('void')`LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE`);
      const answers = await Promise.all([evaluate(first, created.body.token), evaluate(first, first.adminToken)]);
      return answers.map((answer) => answer.status);
    });
    expect(await locked).toEqual([200, 200]);
  });

  it('refuses an unknown secret, a malformed header and an oversized one with 401, caching none of them', async () => {
    for (const token of ['ffs_unknown', 'x'.repeat(600)]) {
      const answer = await evaluate(first, token);
      expect(answer.status).toBe(401);
      expect(answer.body.error.code).toBe('unauthenticated');
    }
    const malformed = await first.request('POST', '/v1/evaluate', { token: null, headers: { authorization: 'Basic abc' }, body: { flagKey: 'tokened', context: {} } });
    expect(malformed.status).toBe(401);
  });

  it('tells other processes of a replaced admin token through the outbox', async () => {
    const events = await first.db.pool.anyFirst(sql.type(z.object({ type: z.string() }))`SELECT type FROM outbox WHERE type LIKE 'token.%' AND payload->>'name' = 'admin' ORDER BY id`);
    // The admin token was ensured once, when the first test API started.
    expect(events).toEqual(['token.created']);
  });
});
