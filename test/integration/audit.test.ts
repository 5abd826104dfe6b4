// The audit log against someone who can reach the database. The application's role cannot rewrite
// it; a superuser can, with the triggers bypassed, and verify then names what was done: a rewritten
// entry (even with its chain recomputed), the newest entry deleted, a forged entry appended, entries
// swapped. The worker's Temporal schedule checkpoints the head outside the database and never
// vouches for a tampered log.
import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { z } from 'zod';
import { checkpointContent, type AuditCheckpoint } from '../../src/data/audit-checkpoints.ts';
import { writeAuditCheckpoint } from '../../src/data/audit.ts';
import { loadAuditSigner } from '../../src/data/audit-signer.ts';
import { sql } from '../../src/data/sql.ts';
import { startWorker, type RunningWorker } from '../../src/worker/start-worker.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { testAuditSigner } from '../support/database.ts';
import { eventually } from '../support/eventually.ts';
import { testLog } from '../support/logger.ts';
import { publicOnlyPolicy } from '../support/outbound.ts';
import { recordHistory, testTemporalClient } from '../support/rollout-worker.ts';
import type { Json } from '../support/rollout-harness.ts';

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/** A few audited writes of different kinds: flags, a segment, a token. */
async function someHistory(api: TestApi): Promise<void> {
  for (const key of ['one', 'two', 'three']) await api.request('POST', '/v1/flags', { body: { key, type: 'boolean', defaultValue: false } });
  await api.request('PATCH', '/v1/flags/two', { body: { enabled: false, version: 1 } });
  await api.request('POST', '/v1/segments', { body: { key: 'beta', name: 'Beta', conditions: [] } });
  await api.request('POST', '/v1/tokens', { body: { name: 'nora', owner: { id: 'nora@example.com' }, scopes: ['feature_flag:manage'] } });
}

async function verifyLog(api: TestApi): Promise<Json> {
  const response = await api.request('GET', '/v1/audit/verify');
  expect(response.status).toBe(200);
  return response.body;
}

describe('the audit log', () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await startTestApi();
  });
  afterEach(async () => {
    await api.close();
  });

  it("cannot be rewritten by the application's role: no UPDATE, DELETE or TRUNCATE, no triggers switched off, no replica mode", async () => {
    await someHistory(api);
    const app = await connect(api.db.url);
    try {
      const attempts: [string, RegExp][] = [
        ["UPDATE audit_log SET actor = 'mallory'", /permission denied for table audit_log/],
        ['DELETE FROM audit_log', /permission denied for table audit_log/],
        ['TRUNCATE audit_log', /permission denied for table audit_log/],
        ["UPDATE audit_signatures SET signature = 'x'", /permission denied for table audit_signatures/],
        ['DELETE FROM audit_signatures', /permission denied for table audit_signatures/],
        ['TRUNCATE audit_signatures', /permission denied for table audit_signatures/],
        ['UPDATE audit_signing SET unsigned_through = 1000000', /permission denied for table audit_signing/],
        ['ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only', /must be owner of table audit_log/],
        ['ALTER TABLE audit_signatures DISABLE TRIGGER ALL', /must be owner of table audit_signatures/],
        ['DROP TABLE audit_log', /must be owner of table audit_log/],
        ['SET session_replication_role = replica', /permission denied to set parameter "session_replication_role"/],
        ['CREATE OR REPLACE FUNCTION audit_entry_hash(entry audit_log) RETURNS text LANGUAGE sql AS $$ SELECT \'\' $$', /permission denied for schema public/],
      ];
      for (const [statement, refusal] of attempts) {
        const outcome = await app.query(statement).then(() => 'done', (error: Error) => error.message);
        expect({ statement, outcome }).toEqual({ statement, outcome: expect.stringMatching(refusal) });
      }
    } finally {
      await app.end();
    }
    const verification = await verifyLog(api);
    expect(verification).toMatchObject({ ok: true, problems: [] });
    expect(verification.signed).toBe(verification.entries);
    // The API connects as the application's role, so verify has nothing to warn about but the missing checkpoint.
    expect(verification.warnings).toEqual([expect.stringMatching(/no checkpoint of this log yet/)]);
  });

  describe('checkpoints on the worker\'s schedule', () => {
    let temporal: { client: Client; connection: Connection };
    let worker: RunningWorker;
    const scheduleId = `audit-checkpoint-${randomUUID()}`;
    beforeAll(async () => {
      temporal = await testTemporalClient();
    });
    afterAll(async () => {
      await temporal.connection.close();
    });

    it('are signed, kept outside the database, published as audit.checkpoint, and never vouch for a tampered log', async () => {
      worker = await startWorker({
        databaseUrl: api.db.url,
        temporalAddress: requireEnv(ENV.temporalAddress),
        temporalNamespace: requireEnv(ENV.temporalNamespace),
        taskQueue: `audit-${randomUUID()}`,
        workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) },
        auditSigner: testAuditSigner(),
        // An hour apart: the test runs it when it wants with the schedule's trigger.
        auditCheckpoints: { store: api.deps.audit.checkpoints, intervalSeconds: 3_600, scheduleId },
        outboundPolicy: publicOnlyPolicy,
        log: testLog,
      });
      const schedule = temporal.client.schedule.getHandle(scheduleId);
      try {
        await someHistory(api);
        const head = (await verifyLog(api)).head;
        await schedule.trigger();
        const checkpoint = (await eventually(() => api.deps.audit.checkpoints.latest(api.db.name), (found) => found?.id === head.id, 30_000)).value as AuditCheckpoint;
        expect(checkpoint).toMatchObject({ database: api.db.name, id: head.id, hash: head.hash, unsignedThrough: 0 });

        // Anyone with the public key can check it, without the service.
        const { publicKeyPem, keyId } = (await api.request('GET', '/v1/audit/public-key')).body;
        expect(keyId).toBe(checkpoint.keyId);
        expect(verify(null, Buffer.from(`flags-audit-checkpoint\n${checkpointContent(checkpoint)}`), createPublicKey(publicKeyPem), Buffer.from(checkpoint.signature, 'base64'))).toBe(true);
        const published = await api.db.pool.anyFirst(sql.type(z.object({ payload: z.record(z.string(), z.unknown()) }))`SELECT payload FROM outbox WHERE type = 'audit.checkpoint'`);
        expect(published).toEqual([checkpoint]);
        expect(await verifyLog(api)).toMatchObject({ ok: true, checkpoint: { id: head.id, hash: head.hash, verified: true }, warnings: [] });
        const [run] = (await schedule.describe()).info.recentActions;
        if (run) await recordHistory(temporal.client.workflow.getHandle(run.action.workflow.workflowId), 'audit-checkpoint');

        // The one thing the application's role may do to the log is append, and an entry appended
        // without the key is not signed: the next run refuses to vouch for the log.
        const app = await connect(api.db.url);
        await app.query("INSERT INTO audit_log (actor, action, entity_type, entity_key, diff, prev_hash, hash) VALUES ('mallory', 'flag.updated', 'flag', 'one', '[]', '', '')");
        await app.end();
        await schedule.trigger();
        const refused = await eventually(async () => (await schedule.describe()).info.recentActions, (actions) => actions.length >= 2, 30_000);
        const refusal = refused.value.at(-1)!.action.workflow;
        await expect(temporal.client.workflow.getHandle(refusal.workflowId, refusal.firstExecutionRunId).result()).rejects.toMatchObject({
          cause: { cause: { type: 'audit_tampered', message: expect.stringMatching(/does not verify since its last checkpoint.*carries no signature/) } },
        });
        expect(await api.deps.audit.checkpoints.latest(api.db.name)).toEqual(checkpoint);
      } finally {
        await schedule.delete();
        await worker.stop();
      }
    });
  });

  describe('names each rewrite made underneath it, as a superuser with the triggers bypassed', () => {
    /** Everything below runs as the owner (a superuser) in replica mode: no trigger fires. */
    async function asSuperuser<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
      const client = await connect(api.db.ownerUrl);
      try {
        await client.query('SET session_replication_role = replica');
        return await work(client);
      } finally {
        await client.end();
      }
    }
    const ids = async (client: pg.Client): Promise<number[]> => (await client.query<{ id: string }>('SELECT id FROM audit_log ORDER BY id')).rows.map((row) => Number(row.id));
    /** Sets `id`'s hash from its content and its predecessor's hash: what anyone who can read the table can compute. */
    const rehash = async (client: pg.Client, id: number) => {
      await client.query(`UPDATE audit_log SET prev_hash = coalesce((SELECT hash FROM audit_log p WHERE p.id < $1 ORDER BY p.id DESC LIMIT 1), 'genesis') WHERE id = $1`, [id]);
      await client.query('UPDATE audit_log a SET hash = audit_entry_hash(a) WHERE id = $1', [id]);
    };

    beforeEach(async () => {
      await someHistory(api);
      // What the scheduled activity does: verify since the last checkpoint, sign the head, keep it outside.
      await writeAuditCheckpoint(api.db.pool, { signer: testAuditSigner(), store: api.deps.audit.checkpoints, now: Date.now() });
      expect(await verifyLog(api)).toMatchObject({ ok: true, checkpoint: { verified: true }, warnings: [] });
    });

    it('a rewritten entry, its chain recomputed from there on: signature_invalid from it to the head, and the checkpoint no longer matches', async () => {
      const { target, after } = await asSuperuser(async (client) => {
        const all = await ids(client);
        const target = all[2]!;
        await client.query("UPDATE audit_log SET actor = 'mallory' WHERE id = $1", [target]);
        for (const id of all.filter((id) => id >= target)) await rehash(client, id);
        return { target, after: all.filter((id) => id >= target) };
      });
      const verification = await verifyLog(api);
      expect(verification).toMatchObject({ ok: false, firstBadId: target, problem: 'signature_invalid' });
      expect(verification.problems.filter((finding: Json) => finding.problem === 'signature_invalid').map((finding: Json) => finding.id)).toEqual(after);
      expect(verification.problems).toContainEqual(expect.objectContaining({ id: after.at(-1), problem: 'checkpoint_mismatch' }));
    });

    it('the newest entry deleted (with its signature): truncated', async () => {
      const newest = await asSuperuser(async (client) => {
        const newest = (await ids(client)).at(-1)!;
        await client.query('DELETE FROM audit_signatures WHERE entry_id = $1', [newest]);
        await client.query('DELETE FROM audit_log WHERE id = $1', [newest]);
        return newest;
      });
      const verification = await verifyLog(api);
      expect(verification).toMatchObject({ ok: false, firstBadId: newest, problem: 'truncated' });
      expect(verification.problems).toEqual([expect.objectContaining({ id: newest, problem: 'truncated', message: expect.stringMatching(new RegExp(`the log ends at entry \\d+, but a checkpoint .* vouches for entries up to ${newest}: the newest entries were deleted`)) })]);
    });

    it('forged entries appended with a correct chain: signature_missing, or signature_invalid when signed with another key', async () => {
      const forger = loadAuditSigner({ dataDir: join(requireEnv(ENV.scratchDir), 'forger') });
      const [unsigned, forged] = await asSuperuser(async (client) => {
        const appended: number[] = [];
        for (const actor of ['mallory', 'mallory-again']) {
          const { rows } = await client.query<{ id: string }>(
            "INSERT INTO audit_log (actor, action, entity_type, entity_key, diff, prev_hash, hash) VALUES ($1, 'flag.updated', 'flag', 'one', '[]', '', '') RETURNING id",
            [actor],
          );
          const id = Number(rows[0]!.id);
          await rehash(client, id);
          appended.push(id);
        }
        const { rows } = await client.query<{ hash: string }>('SELECT hash FROM audit_log WHERE id = $1', [appended[1]]);
        await client.query('INSERT INTO audit_signatures (entry_id, key_id, signature) VALUES ($1, $2, $3)', [appended[1], forger.keyId, forger.signEntry(appended[1]!, rows[0]!.hash)]);
        return appended;
      });
      const verification = await verifyLog(api);
      expect(verification).toMatchObject({ ok: false, firstBadId: unsigned, problem: 'signature_missing' });
      expect(verification.problems.map((finding: Json) => [finding.id, finding.problem])).toEqual([
        [unsigned, 'signature_missing'],
        [forged, 'signature_invalid'],
      ]);
    });

    it('two entries swapped (content, hashes and all): out_of_order, for both and for the entry after them', async () => {
      const [first, second, next] = await asSuperuser(async (client) => {
        const all = await ids(client);
        const pair = [all[1]!, all[2]!] as const;
        const columns = ['at', 'actor', 'actor_name', 'token_id', 'approver', 'action', 'entity_type', 'entity_key', 'version', 'before', 'after', 'diff', 'prev_hash', 'hash', 'format'];
        await client.query('CREATE TEMP TABLE swapped AS SELECT * FROM audit_log WHERE id = ANY($1)', [pair]);
        // Hashes are unique: park them, then give each entry the other's everything but its id.
        await client.query(`UPDATE audit_log SET hash = 'parked-' || id WHERE id = ANY($1)`, [pair]);
        await client.query(
          `UPDATE audit_log a SET ${columns.map((name) => `${name} = s.${name}`).join(', ')} FROM swapped s WHERE a.id = ANY($1) AND s.id = ANY($1) AND s.id <> a.id`,
          [pair],
        );
        return [...pair, all[3]!];
      });
      const verification = await verifyLog(api);
      expect(verification).toMatchObject({ ok: false, firstBadId: first, problem: 'out_of_order' });
      // The entry after the pair chains to the second, now found in the first's place.
      expect(verification.problems.map((finding: Json) => [finding.id, finding.problem])).toEqual([
        [first, 'out_of_order'],
        [second, 'out_of_order'],
        [next, 'out_of_order'],
      ]);
    });
  });
});
