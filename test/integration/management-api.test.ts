import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

describe('segments, tokens, audit and request limits', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ maxBodyBytes: 64 * 1024, maxPageSize: 100 });
  });
  afterAll(async () => {
    await api.close();
  });

  describe('segments', () => {
    it('creates, targets, patches with a version, and refuses deletion while a flag uses it', async () => {
      const created = await api.request('POST', '/v1/segments', {
        body: { key: 'beta-users', name: 'Beta users', conditions: [{ attribute: 'email', op: 'regex', value: '@example\\.com$' }] },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ key: 'beta-users', version: 1 });

      const unknownSegment = await api.request('POST', '/v1/flags', {
        body: { key: 'uses-ghost-segment', type: 'boolean', defaultValue: false, rules: [{ id: 'r', conditions: [{ segment: 'ghost' }], serve: { value: true } }] },
      });
      expect(unknownSegment.status).toBe(400);

      const flag = await api.request('POST', '/v1/flags', {
        body: { key: 'beta-banner', type: 'boolean', defaultValue: false, rules: [{ id: 'beta', conditions: [{ segment: 'beta-users' }], serve: { value: true } }] },
      });
      expect(flag.status).toBe(201);

      const noVersion = await api.request('PATCH', '/v1/segments/beta-users', { body: { name: 'Beta' } });
      expect(noVersion.status).toBe(409);
      const patched = await api.request('PATCH', '/v1/segments/beta-users', { body: { name: 'Beta testers' }, headers: { 'if-match': '"1"' } });
      expect(patched.body).toMatchObject({ version: 2, name: 'Beta testers' });
      const event = await api.db.pool.one(sql.type(z.object({ payload: z.record(z.string(), z.unknown()) }))`
        SELECT payload FROM outbox WHERE type = 'segment.updated' ORDER BY id DESC LIMIT 1`);
      expect(event.payload.affectedFlags).toEqual(['beta-banner']);

      const unsafe = await api.request('PATCH', '/v1/segments/beta-users', { body: { conditions: [{ attribute: 'email', op: 'regex', value: '(a' }] }, headers: { 'if-match': '"2"' } });
      expect(unsafe.status).toBe(400);
      expect(unsafe.body.error.code).toBe('validation_error');

      const refused = await api.request('DELETE', '/v1/segments/beta-users');
      expect(refused.status).toBe(400);
      expect(refused.body.error.details).toEqual({ flags: ['beta-banner'] });

      await api.request('PATCH', '/v1/flags/beta-banner', { body: { rules: [], version: 1 } });
      const deleted = await api.request('DELETE', '/v1/segments/beta-users');
      expect(deleted.status).toBe(204);
      expect((await api.request('GET', '/v1/segments/beta-users')).status).toBe(404);
    });
  });

  describe('tokens and scopes', () => {
    it('answers 401 without a token or with an unknown one', async () => {
      const none = await api.request('GET', '/v1/flags', { token: null });
      expect(none.status).toBe(401);
      expect(none.body.error.code).toBe('unauthenticated');
      const unknown = await api.request('GET', '/v1/flags', { token: 'ffs_not-a-real-token' });
      expect(unknown.status).toBe(401);
    });

    it('returns a secret once, stores only its hash, enforces scopes, records the token\'s owner and the token, and revokes', async () => {
      const created = await api.request('POST', '/v1/tokens', { body: { name: 'ci-pipeline', owner: { id: 'ci', name: 'The CI pipeline', kind: 'service' }, scopes: ['feature_flag:manage'] } });
      expect(created.status).toBe(201);
      const secret: string = created.body.token;
      expect(secret).toMatch(/^ffs_/);
      const stored = await api.db.pool.oneFirst(sql.type(z.object({ token_hash: z.string() }))`SELECT token_hash FROM tokens WHERE id = ${created.body.id}`);
      expect(stored).not.toContain(secret);
      const listed = await api.request('GET', '/v1/tokens');
      expect(JSON.stringify(listed.body)).not.toContain(secret);

      const write = await api.request('POST', '/v1/flags', { body: { key: 'by-pipeline', type: 'boolean', defaultValue: false }, token: secret });
      expect(write.status).toBe(201);
      expect(write.body.createdBy).toBe('ci');
      const audit = await api.request('GET', '/v1/flags/by-pipeline/audit');
      expect(audit.body.items[0]).toMatchObject({ actor: 'ci', actorName: 'The CI pipeline', tokenId: created.body.id });

      const noAdmin = await api.request('POST', '/v1/tokens', { body: { name: 'sneaky', owner: { id: 'ci' }, scopes: ['feature_flag:admin'] }, token: secret });
      expect(noAdmin.status).toBe(403);
      expect(noAdmin.body.error.code).toBe('permission_denied');

      const evaluator = await api.request('POST', '/v1/tokens', { body: { name: 'svc-eval', owner: { id: 'svc', kind: 'service' }, scopes: ['feature_flag:evaluate'], projectIds: ['p1'] } });
      expect(evaluator.body.projectIds).toEqual(['p1']);
      expect((await api.request('GET', '/v1/flags', { token: evaluator.body.token })).status).toBe(403);

      const duplicate = await api.request('POST', '/v1/tokens', { body: { name: 'ci-pipeline', owner: { id: 'ci' }, scopes: ['feature_flag:manage'] } });
      expect(duplicate.status).toBe(400);

      const revoked = await api.request('DELETE', `/v1/tokens/${created.body.id}`);
      expect(revoked.status).toBe(200);
      expect(revoked.body.revokedAt).toEqual(expect.any(String));
      expect((await api.request('GET', '/v1/flags', { token: secret })).status).toBe(401);
    });

    it('tells any live token who it is (GET /v1/me), whatever its scope, and never echoes the secret', async () => {
      const evaluator = await api.request('POST', '/v1/tokens', { body: { name: 'svc-me', owner: { id: 'checkout', name: 'Checkout service', kind: 'service' }, scopes: ['feature_flag:evaluate'], projectIds: ['p9'] } });
      const me = await api.request('GET', '/v1/me', { token: evaluator.body.token });
      expect(me.status).toBe(200);
      expect(me.body).toEqual({
        tokenId: evaluator.body.id,
        name: 'svc-me',
        owner: { id: 'checkout', name: 'Checkout service', kind: 'service' },
        scopes: ['feature_flag:evaluate'],
        projectIds: ['p9'],
      });
      expect(JSON.stringify(me.body)).not.toContain(evaluator.body.token);
      expect((await api.request('GET', '/v1/me')).body).toMatchObject({ owner: { id: 'admin' }, projectIds: null });
      expect((await api.request('GET', '/v1/me', { token: null })).status).toBe(401);
      await api.request('DELETE', `/v1/tokens/${evaluator.body.id}`);
      expect((await api.request('GET', '/v1/me', { token: evaluator.body.token })).status).toBe(401);
    });
  });

  describe('audit chain', () => {
    it('verifies, refuses UPDATE and DELETE, and names the first entry altered underneath', async () => {
      await api.request('POST', '/v1/flags', { body: { key: 'audited', type: 'boolean', defaultValue: false } });
      await api.request('PATCH', '/v1/flags/audited', { body: { description: 'changed' }, headers: { 'if-match': '"1"' } });
      const clean = await api.request('GET', '/v1/audit/verify');
      expect(clean.body).toMatchObject({ ok: true });
      expect(clean.body.entries).toBeGreaterThan(2);

      const all = await api.request('GET', '/v1/audit?entityKey=audited');
      expect(all.body.items).toHaveLength(2);
      const target = all.body.items[1];
      expect(target.action).toBe('flag.created');

      const client = new pg.Client({ connectionString: api.db.ownerUrl });
      await client.connect();
      try {
        await expect(client.query('UPDATE audit_log SET actor = $1 WHERE id = $2', ['mallory', target.id])).rejects.toThrow(/append-only/);
        await expect(client.query('DELETE FROM audit_log WHERE id = $1', [target.id])).rejects.toThrow(/append-only/);
        // A superuser can switch the trigger off; verify must still catch what they do.
        await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
        await client.query('UPDATE audit_log SET actor = $1 WHERE id = $2', ['mallory', target.id]);
        await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
      } finally {
        await client.end();
      }
      const tampered = await api.request('GET', '/v1/audit/verify');
      expect(tampered.body).toMatchObject({ ok: false, firstBadId: target.id, problem: 'content_changed' });
    });
  });

  describe('request limits and the OpenAPI document', () => {
    it('refuses an oversized body, malformed JSON and an oversized page with validation_error', async () => {
      const huge = await api.request('POST', '/v1/flags', { body: { key: 'huge', type: 'string', defaultValue: 'x'.repeat(100 * 1024) } });
      expect(huge.status).toBe(400);
      expect(huge.body.error).toMatchObject({ code: 'validation_error', message: expect.stringContaining('too large') });
      const malformed = await api.request('POST', '/v1/flags', { body: '{"key": ' });
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.code).toBe('validation_error');
      const page = await api.request('GET', '/v1/segments?limit=101');
      expect(page.status).toBe(400);
    });

    it('serves an OpenAPI 3.1 document generated from the validating schemas', async () => {
      const document = await api.request('GET', '/openapi.json', { token: null });
      expect(document.status).toBe(200);
      expect(document.body.openapi).toBe('3.1.0');
      const create = document.body.paths['/v1/flags'].post;
      expect(create['x-required-scope']).toBe('feature_flag:manage');
      const schema = create.requestBody.content['application/json'].schema;
      expect(schema.required).toEqual(expect.arrayContaining(['key', 'type', 'defaultValue']));
      expect(schema.properties.type.enum).toEqual(['boolean', 'string', 'number', 'json']);
      expect(Object.keys(document.body.paths)).toEqual(expect.arrayContaining(['/v1/flags/{key}', '/v1/segments', '/v1/audit/verify', '/v1/tokens']));
    });
  });
});
