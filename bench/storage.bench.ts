// `npm run bench:storage`: the storage the retention run's clean-up saves on a realistic history.
// In a temporary embedded PostgreSQL of its own: 10,000 flags, 200,000 audit entries over two years
// (flag edits, rollout plans and change requests as the service writes them), a rollout plan with
// its history, a change request and a scheduled change per flag finished long ago (a tenth of them
// recently), and two months of daily evaluation counts per flag. It measures each table with its
// indexes and TOAST (pg_total_relation_size, after VACUUM FULL), runs the clean-up exactly as the
// daily run does (src/data/cleanup.ts `cleanUp`), measures again, checks that verify accepts the
// log and that the audit API's reads give the same entries, and compares ways to compress entries.
//
// The history is generated in bulk SQL (unnest arrays through the log's own chain trigger, so the
// hash chain is the real one) and every entry is signed with the audit key afterwards, in Node, as
// the service signs them: verify accepts it. BENCH_FLAGS and BENCH_AUDIT_ENTRIES scale it down.
import { isDeepStrictEqual } from 'node:util';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import pg from 'pg';
import { actorNamed } from '../src/data/actor.ts';
import { listAudit, verifyAudit } from '../src/data/audit.ts';
import { loadAuditSigner } from '../src/data/audit-signer.ts';
import { AUDIT_BLOCK_SIZE, cleanUp } from '../src/data/cleanup.ts';
import { diffJson } from '../src/data/json-diff.ts';
import { migrate } from '../src/data/migrate.ts';
import { createDatabasePool } from '../src/data/pool.ts';
import { startEmbeddedPostgres } from '../src/launcher/embedded-postgres.ts';
import { createLogger } from '../src/log.ts';
import { freePorts } from '../test/support/ports.ts';

const FLAGS = Number(process.env.BENCH_FLAGS ?? 10_000);
const ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 200_000);
const SETTINGS = { cleanupAfterDays: 90, auditCompressAfterDays: 90, evaluationCountsDays: 37 };
const TABLES = ['audit_log', 'audit_archive', 'audit_signatures', 'rollouts', 'rollout_history', 'change_requests', 'scheduled_changes', 'flag_evaluation_counts'];
const DAY_MS = 86_400_000;
const log = createLogger('warn', 'bench-storage');

const scratch = mkdtempSync(join(tmpdir(), 'bench-storage-'));
// PostgreSQL runs as its own user when we are root, and must be able to reach its folder.
chmodSync(scratch, 0o755);
const postgres = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), port: await freePorts(1), log });
const owner = new pg.Client({ connectionString: postgres.migrationDatabaseUrl });
const signer = loadAuditSigner({ dataDir: scratch });
let db: Awaited<ReturnType<typeof createDatabasePool>> | undefined;

const seconds = (started: number) => ((performance.now() - started) / 1000).toFixed(1);
const kB = (bytes: number) => `${Math.round(bytes / 1024).toLocaleString('en')} kB`;

/** A flag as the audit log records it (its definition and state), at its `version`-th edit. */
function flagView(index: number, version: number): Record<string, unknown> {
  const key = `flag-${String(index).padStart(5, '0')}`;
  const percentage = (version * 10) % 100;
  return {
    key,
    type: index % 4 === 0 ? 'string' : 'boolean',
    state: 'active',
    description: `Controls the ${key} experience for the checkout team (ticket FLAG-${index})`,
    tags: ['checkout', `team-${index % 12}`],
    enabled: version % 7 !== 0,
    defaultValue: index % 4 === 0 ? 'control' : false,
    offValue: index % 4 === 0 ? 'control' : false,
    variants: index % 4 === 0 ? [{ key: 'control', value: 'control' }, { key: 'treatment', value: 'treatment' }] : [],
    rules: [
      { id: 'beta-testers', conditions: [{ attribute: 'email', operator: 'ends_with', values: ['@example.com'] }], value: index % 4 === 0 ? 'treatment' : true },
      { id: 'europe', conditions: [{ attribute: 'country', operator: 'in', values: ['DE', 'FR', 'NL', 'SE', version % 3 === 0 ? 'PL' : 'IT'] }, { attribute: 'plan', operator: 'equals', values: ['pro'] }], rollout: { percentage } },
    ],
    rollout: { percentage, stickiness: 'userId' },
    prerequisites: [],
    killswitch: null,
    highImpact: index % 10 === 0,
    owner: `team-${index % 12}`,
    expectedLifetime: index % 3 === 0 ? 'permanent' : 90,
  };
}

interface GeneratedEntry {
  at: Date;
  actor: string;
  action: string;
  entityType: string;
  entityKey: string;
  version: number | null;
  before: unknown;
  after: unknown;
}

/** The k-th entry of flag `index`: created, edited, a rollout plan's start, steps and end, change requests. */
function generatedEntry(index: number, k: number, at: Date): GeneratedEntry {
  const key = `flag-${String(index).padStart(5, '0')}`;
  const actor = `person-${(index + k) % 40}`;
  if (k === 0) return { at, actor, action: 'flag.created', entityType: 'flag', entityKey: key, version: 1, before: null, after: flagView(index, 1) };
  const version = k + 1;
  switch (k % 6) {
    case 1:
      return {
        at, actor, action: 'rollout.scheduled', entityType: 'rollout', entityKey: key, version: null, before: null,
        after: { rolloutId: `ro_${index}_${k}`, plan: { steps: [10, 25, 50, 100].map((percentage, step) => ({ rollout: { percentage }, targetAt: at.getTime() + step * 3_600_000 })), gate: null, resume: 'continue' }, startRollout: { percentage: 0 }, reason: 'gradual release' },
      };
    case 3:
      return { at, actor: 'rollout-workflow', action: 'rollout.completed', entityType: 'rollout', entityKey: key, version: null, before: { rolloutId: `ro_${index}_${k - 2}`, state: 'running', currentStep: 3 }, after: { rolloutId: `ro_${index}_${k - 2}`, state: 'completed', rolledBack: false, reason: null } };
    case 4:
      return {
        at, actor, action: 'change_request.requested', entityType: 'change_request', entityKey: `cr_${index}_${k}`, version: null, before: null,
        after: { flagKey: key, kind: 'patch', change: { patch: { enabled: false } }, baseVersion: version, contentHash: 'c'.repeat(64), affectedFlags: [key], approvers: [], reason: 'incident follow-up', expiresAt: at.toISOString() },
      };
    default:
      return { at, actor, action: 'flag.updated', entityType: 'flag', entityKey: key, version, before: flagView(index, version - 1), after: flagView(index, version) };
  }
}

async function insertAuditEntries(): Promise<void> {
  const started = performance.now();
  // Each entry goes to a flag picked by a multiplicative hash of its number: flags are edited in no
  // order, so consecutive entries mix creations, edits, plans and requests of different flags.
  const entriesOf = new Uint32Array(FLAGS);
  const first = Date.now() - 730 * DAY_MS;
  const step = (729 * DAY_MS) / ENTRIES;
  const CHUNK = 5_000;
  for (let offset = 0; offset < ENTRIES; offset += CHUNK) {
    const columns: unknown[][] = Array.from({ length: 10 }, () => []);
    for (let i = offset; i < Math.min(offset + CHUNK, ENTRIES); i++) {
      // The first FLAGS entries create the flags; then flags in hashed order, two years ago to yesterday.
      const flag = i < FLAGS ? i : Number((BigInt(i) * 2_654_435_761n) % BigInt(FLAGS));
      const entry = generatedEntry(flag, entriesOf[flag]!++, new Date(first + i * step));
      const diff = diffJson(entry.before ?? {}, entry.after ?? {});
      const values = [entry.at.toISOString(), entry.actor, entry.action, entry.entityType, entry.entityKey, entry.version, entry.before === null ? null : JSON.stringify(entry.before), JSON.stringify(entry.after), JSON.stringify(diff), entry.actor];
      values.forEach((value, column) => columns[column]!.push(value));
    }
    await owner.query(`
      INSERT INTO audit_log (at, actor, action, entity_type, entity_key, version, before, after, diff, actor_name, prev_hash, hash)
      SELECT at, actor, action, entity_type, entity_key, version, before, after, diff, actor_name, '', ''
      FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::jsonb[], $8::jsonb[], $9::jsonb[], $10::text[])
        AS generated (at, actor, action, entity_type, entity_key, version, before, after, diff, actor_name)`, columns);
  }
  const chained = performance.now();
  // Signed as the service signs each entry it writes.
  const rows = (await owner.query<{ id: string; hash: string }>('SELECT id, hash FROM audit_log ORDER BY id')).rows;
  for (let offset = 0; offset < rows.length; offset += CHUNK) {
    const chunk = rows.slice(offset, offset + CHUNK);
    await owner.query(`INSERT INTO audit_signatures (entry_id, key_id, signature) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])`, [
      chunk.map((row) => row.id),
      chunk.map(() => signer.keyId),
      chunk.map((row) => signer.signEntry(Number(row.id), row.hash)),
    ]);
  }
  console.log(`${ENTRIES.toLocaleString('en')} audit entries chained in ${seconds(started)} s and signed in ${((performance.now() - chained) / 1000).toFixed(1)} s`);
}

async function insertHistory(): Promise<void> {
  const started = performance.now();
  await owner.query(`
    INSERT INTO flags (key, version, state, definition, description, tags, created_by, updated_by)
    SELECT 'flag-' || lpad(i::text, 5, '0'), 20, 'active', jsonb_build_object('key', 'flag-' || lpad(i::text, 5, '0'), 'type', 'boolean', 'defaultValue', false, 'rules', '[]'::jsonb),
           '', '{checkout}', 'person-1', 'person-1'
    FROM generate_series(0, ${FLAGS - 1}) i`);
  // Per flag: a plan, a request and a scheduled change that finished 100 to 700 days ago, or, for
  // one flag in ten, 10 days ago (kept).
  const finished = `now() - make_interval(days => CASE WHEN i % 10 = 0 THEN 10 ELSE 100 + i % 600 END)`;
  await owner.query(`
    INSERT INTO rollouts (id, flag_key, workflow_id, state, plan, start_rollout, expected_rollout, current_step, started_by, reason, created_at, updated_at, finished_at)
    SELECT 'ro_' || i, 'flag-' || lpad(i::text, 5, '0'), 'rollout:ro_' || i, 'completed',
           jsonb_build_object('steps', (SELECT jsonb_agg(jsonb_build_object('rollout', jsonb_build_object('percentage', p), 'targetAt', 1700000000000 + p * 36000)) FROM unnest(ARRAY[10, 25, 50, 100]) p), 'gate', null, 'resume', 'continue'),
           '{"percentage": 0}', '{"percentage": 100}', 3, 'person-' || i % 40, 'gradual release', ${finished} - interval '1 day', ${finished}, ${finished}
    FROM generate_series(0, ${FLAGS - 1}) i`);
  await owner.query(`
    INSERT INTO rollout_history (rollout_id, seq, kind, at, actor, step_index, flag_version, rollout)
    SELECT 'ro_' || i, s, CASE s WHEN 0 THEN 'scheduled' WHEN 1 THEN 'started' WHEN 6 THEN 'completed' ELSE 'step_applied' END, now() - interval '100 days', 'rollout-workflow',
           CASE WHEN s BETWEEN 2 AND 5 THEN s - 2 END, CASE WHEN s BETWEEN 2 AND 5 THEN s END, CASE WHEN s BETWEEN 2 AND 5 THEN jsonb_build_object('percentage', (s - 1) * 25) END
    FROM generate_series(0, ${FLAGS - 1}) i, generate_series(0, 6) s`);
  await owner.query(`
    INSERT INTO change_requests (id, flag_key, kind, change, content_hash, base_version, diff, status, requested_by, reason, expires_at, workflow_id, decided_by, decided_at, result, created_at, updated_at, finished_at, affected_flags)
    SELECT 'cr_' || i, 'flag-' || lpad(i::text, 5, '0'), 'patch', '{"patch": {"enabled": false}}', md5(i::text) || md5(i::text), 7,
           '[{"path": "enabled", "before": true, "after": false}]', 'applied', 'person-' || i % 40, 'incident follow-up', ${finished}, 'change:cr_' || i,
           'person-' || (i + 1) % 40, ${finished}, '{"flagVersion": 8}', ${finished} - interval '1 hour', ${finished}, ${finished}, ARRAY['flag-' || lpad(i::text, 5, '0')]
    FROM generate_series(0, ${FLAGS - 1}) i`);
  await owner.query(`
    INSERT INTO scheduled_changes (id, flag_key, patch, base_version, expected, run_at, status, created_by, reason, workflow_id, result, created_at, updated_at, finished_at)
    SELECT 'sc_' || i, 'flag-' || lpad(i::text, 5, '0'), '{"enabled": true}', 9, '{"enabled": false}', ${finished}, 'applied', 'person-' || i % 40, 'launch day',
           'scheduled-change:sc_' || i, '{"flagVersion": 10}', ${finished} - interval '2 days', ${finished}, ${finished}
    FROM generate_series(0, ${FLAGS - 1}) i`);
  // Two months of counts: a row per flag and day (one combination each).
  await owner.query(`
    INSERT INTO flag_evaluation_counts (flag_key, hour, reason, rule_id, variant, value, count)
    SELECT 'flag-' || lpad(i::text, 5, '0'), date_trunc('hour', now()) - make_interval(days => d), 'percentage', 'europe', '', 'true', 1000 + i
    FROM generate_series(0, ${FLAGS - 1}) i, generate_series(0, 59) d`);
  console.log(`${FLAGS.toLocaleString('en')} flags with their plans, requests, scheduled changes and counts in ${seconds(started)} s`);
}

async function tableSizes(): Promise<Map<string, number>> {
  await owner.query(`VACUUM FULL ${TABLES.join(', ')}`);
  const rows = (await owner.query<{ name: string; bytes: string }>(`SELECT name, pg_total_relation_size(name::regclass) AS bytes FROM unnest($1::text[]) name`, [TABLES])).rows;
  return new Map(rows.map((row) => [row.name, Number(row.bytes)]));
}

/** Ways to store old entries compressed, on 20,000 consecutive entries from the middle of the log: what each saves. */
async function compareCompression(): Promise<void> {
  const sampleSize = Math.min(20_000, ENTRIES);
  const rows = (await owner.query<{ id: string; content: string; stored: number; row_bytes: number }>(`
    SELECT id, jsonb_build_array(before, after, diff)::text AS content,
           coalesce(pg_column_size(before), 0) + coalesce(pg_column_size(after), 0) + pg_column_size(diff) AS stored,
           pg_column_size(a.*) AS row_bytes
    FROM audit_log a WHERE id > ${Math.floor(ENTRIES / 2)} ORDER BY id LIMIT ${sampleSize}`)).rows;
  const stored = rows.reduce((sum, row) => sum + row.stored, 0);
  const text = rows.reduce((sum, row) => sum + Buffer.byteLength(row.content), 0);
  const overThreshold = rows.filter((row) => row.row_bytes > 2_032).length;
  const gzip = rows.reduce((sum, row) => sum + gzipSync(row.content).length, 0);
  const zstd = rows.reduce((sum, row) => sum + zstdCompressSync(Buffer.from(row.content)).length, 0);
  const lines: [string, number][] = [
    ['as stored now (jsonb; PostgreSQL compresses a row\'s values only past ~2 kB)', stored],
    ['per entry, gzip (node:zlib)', gzip],
    ['per entry, zstd (node:zlib)', zstd],
  ];
  const lz4 = (await owner.query<{ lz4: boolean }>(`SELECT EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) AS lz4`)).rows[0]!.lz4;
  for (const compression of lz4 ? ['pglz', 'lz4'] : ['pglz']) {
    for (const blockSize of [50, AUDIT_BLOCK_SIZE, 1_000]) {
      await owner.query(`DROP TABLE IF EXISTS block_trial; CREATE TEMP TABLE block_trial (content jsonb COMPRESSION ${compression})`);
      await owner.query(`
        INSERT INTO block_trial (content)
        SELECT jsonb_object_agg(id::text, jsonb_build_array(before, after, diff))
        FROM (SELECT id, before, after, diff, (row_number() OVER (ORDER BY id) - 1) / ${blockSize} AS block FROM audit_log WHERE id > ${Math.floor(ENTRIES / 2)} ORDER BY id LIMIT ${sampleSize}) entries
        GROUP BY block`);
      const size = Number((await owner.query<{ bytes: string }>('SELECT sum(pg_column_size(content)) AS bytes FROM block_trial')).rows[0]!.bytes);
      const read = performance.now();
      await owner.query(`SELECT content -> (SELECT min(key) FROM jsonb_object_keys(content) key) FROM block_trial LIMIT 100`);
      lines.push([`blocks of ${blockSize} in one jsonb, ${compression} (reading one entry: ${((performance.now() - read) / Math.min(100, sampleSize / blockSize)).toFixed(2)} ms)`, size]);
    }
  }
  // Blocks compressed in Node would have to be hashed in Node too (PostgreSQL cannot read them back): for comparison only.
  for (const blockSize of [AUDIT_BLOCK_SIZE, 1_000]) {
    let bytes = 0;
    for (let offset = 0; offset < rows.length; offset += blockSize) bytes += zstdCompressSync(Buffer.from(rows.slice(offset, offset + blockSize).map((row) => row.content).join(','))).length;
    lines.push([`blocks of ${blockSize}, zstd in Node (for comparison: PostgreSQL could not read these to hash them)`, bytes]);
  }
  console.log(`\nCompressing ${sampleSize.toLocaleString('en')} consecutive entries' before, after and diff (${kB(text)} as JSON text; ${overThreshold} of them in rows over 2,032 bytes, which TOAST compresses by itself${lz4 ? '' : '; this PostgreSQL is built without lz4, so blocks use pglz'}):`);
  for (const [what, bytes] of lines) console.log(`  ${what.padEnd(92)} ${kB(bytes).padStart(10)}  ${(100 * bytes / stored).toFixed(0).padStart(3)} %`);
}

try {
  await migrate({ databaseUrl: postgres.migrationDatabaseUrl, log });
  await owner.connect();
  db = await createDatabasePool(postgres.databaseUrl, { auditSigner: signer });
  await insertHistory();
  await insertAuditEntries();
  await compareCompression();

  const before = await tableSizes();
  const newest = Number((await owner.query<{ id: string }>('SELECT max(id) AS id FROM audit_log')).rows[0]!.id);
  const samples = [Math.floor(newest / 10), Math.floor(newest / 2), newest - 10];
  const pagesBefore = await Promise.all(samples.map((id) => listAudit(db!, { before: id, limit: 200 })));

  const started = performance.now();
  const totals = await cleanUp(db, SETTINGS, { now: Date.now(), actor: actorNamed('schedule:flag-retention') });
  console.log(`\nclean-up (${JSON.stringify(SETTINGS)}) in ${seconds(started)} s: ${JSON.stringify(totals)}`);
  const after = await tableSizes();

  console.log(`\n${'table (with indexes and TOAST)'.padEnd(32)} ${'before'.padStart(12)} ${'after'.padStart(12)} ${'saved'.padStart(12)}`);
  let totalBefore = 0;
  let totalAfter = 0;
  for (const table of TABLES) {
    const was = before.get(table)!;
    const is = after.get(table)!;
    totalBefore += was;
    totalAfter += is;
    console.log(`${table.padEnd(32)} ${kB(was).padStart(12)} ${kB(is).padStart(12)} ${kB(was - is).padStart(12)}`);
  }
  console.log(`${'total'.padEnd(32)} ${kB(totalBefore).padStart(12)} ${kB(totalAfter).padStart(12)} ${kB(totalBefore - totalAfter).padStart(12)}  (${(100 * (totalBefore - totalAfter) / totalBefore).toFixed(0)} % saved)`);

  const pagesAfter = await Promise.all(samples.map((id) => listAudit(db!, { before: id, limit: 200 })));
  if (!isDeepStrictEqual(pagesBefore, pagesAfter)) throw new Error('the audit API reads different entries after compression');
  const verifying = performance.now();
  const verification = await verifyAudit(db, { verifier: signer });
  if (!verification.ok) throw new Error(`verify does not accept the log: ${JSON.stringify(verification.problems.slice(0, 3))}`);
  console.log(`\nverify: ok, ${verification.entries.toLocaleString('en')} entries, ${verification.signed.toLocaleString('en')} signed, in ${seconds(verifying)} s; the audit API reads the same 600 entries before and after`);
} finally {
  await db?.end();
  await owner.end().catch(() => undefined);
  await postgres.stop();
  rmSync(scratch, { recursive: true, force: true });
}
