// `npm run bench:insights-flush`: what one insights flush costs PostgreSQL, apart from the HTTP load
// around it. Every FLAGS_INSIGHTS_FLUSH_SECONDS each API process adds a row per flag and combination
// it counted since the last flush; with 10,000 flags in turn that is about 10,000 rows. This times
// the flush (src/data/insights.ts `addEvaluationCounts`, tables with room for HOT updates) against
// what it replaced (two statements in a transaction, every flag's usage row rewritten by every
// flush, pages packed full: a copy of the database as it was), alternately in one run on the same
// rows, and reports milliseconds and WAL written per flush.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import { addEvaluationCounts, type EvaluationCountRow } from '../src/data/insights.ts';
import { migrate } from '../src/data/migrate.ts';
import { createDatabasePool, type DatabasePool } from '../src/data/pool.ts';
import { sql } from '../src/data/sql.ts';
import { startEmbeddedPostgres } from '../src/launcher/embedded-postgres.ts';
import { createLogger } from '../src/log.ts';
import { freePorts } from '../test/support/ports.ts';

const FLAGS = Number(process.env.BENCH_FLAGS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const log = createLogger('warn', 'bench-insights-flush');

/** The flush as it was before (kept here only to compare): two statements in a transaction. */
async function addEvaluationCountsBefore(db: DatabasePool, rows: readonly EvaluationCountRow[]): Promise<void> {
  const column = <K extends keyof EvaluationCountRow>(name: K) => rows.map((row) => row[name]);
  await db.transaction(async (tx) => {
    await tx.query(sql.typeAlias('void')`
      INSERT INTO flag_evaluation_counts (flag_key, hour, reason, rule_id, variant, value, count)
      SELECT flag_key, date_trunc('hour', now()), reason, rule_id, variant, value, sum(count)
      FROM unnest(${sql.array(column('flagKey'), 'text')}, ${sql.array(column('reason'), 'text')}, ${sql.array(column('ruleId'), 'text')},
                  ${sql.array(column('variant'), 'text')}, ${sql.array(column('value'), 'text')}, ${sql.array(column('count'), 'int8')})
           AS counted (flag_key, reason, rule_id, variant, value, count)
      GROUP BY flag_key, reason, rule_id, variant, value
      ON CONFLICT (flag_key, hour, reason, rule_id, variant, value) DO UPDATE SET count = flag_evaluation_counts.count + excluded.count`);
    await tx.query(sql.typeAlias('void')`
      INSERT INTO flag_usage (flag_key, last_evaluated_at)
      SELECT DISTINCT flag_key, now() FROM unnest(${sql.array([...new Set(column('flagKey'))], 'text')}) AS evaluated (flag_key)
      ON CONFLICT (flag_key) DO UPDATE SET last_evaluated_at = greatest(flag_usage.last_evaluated_at, excluded.last_evaluated_at)`);
  });
}

/** What a process drains after 5 s of flat-out load over `FLAGS` flags: one or two combinations each. */
function drainedRows(): EvaluationCountRow[] {
  const rows: EvaluationCountRow[] = [];
  for (let i = 0; i < FLAGS; i++) {
    const flagKey = `flag-${i}`;
    rows.push({ flagKey, reason: 'percentage', ruleId: '', variant: '', value: 'true', count: 1 + (i % 3) });
    if (i % 4 === 0) rows.push({ flagKey, reason: 'rule', ruleId: 'beta', variant: '', value: 'false', count: 1 });
  }
  return rows;
}

const walPosition = z.object({ lsn: z.string() });
async function walBytesSince(db: DatabasePool, lsn: string): Promise<number> {
  return Number(await db.oneFirst(sql.type(z.object({ bytes: z.string() }))`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ${lsn}::pg_lsn)::text AS bytes`));
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const scratch = mkdtempSync(join(tmpdir(), 'bench-insights-flush-'));
chmodSync(scratch, 0o755);
const postgres = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), port: await freePorts(1), log });
let db: DatabasePool | undefined;
let dbBefore: DatabasePool | undefined;
try {
  await migrate({ databaseUrl: postgres.migrationDatabaseUrl, log });
  // "before" in a copy of the database with the tables as they were (pages packed full).
  const owner = new pg.Client({ connectionString: postgres.migrationDatabaseUrl });
  await owner.connect();
  await owner.query('CREATE DATABASE flags_before TEMPLATE flags');
  await owner.end();
  const beforeOwner = new pg.Client({ connectionString: postgres.migrationDatabaseUrl.replace(/\/flags$/, '/flags_before') });
  await beforeOwner.connect();
  await beforeOwner.query('ALTER TABLE flag_evaluation_counts RESET (fillfactor); ALTER TABLE flag_usage RESET (fillfactor)');
  await beforeOwner.end();
  db = await createDatabasePool(postgres.databaseUrl);
  dbBefore = await createDatabasePool(postgres.databaseUrl.replace(/\/flags$/, '/flags_before'));
  const rows = drainedRows();
  const pools = { before: dbBefore, after: db };
  const variants = { before: addEvaluationCountsBefore, after: addEvaluationCounts };
  const figures = { before: { ms: [] as number[], wal: [] as number[] }, after: { ms: [] as number[], wal: [] as number[] } };
  // The hour's rows exist after the first flush; every later flush updates them, as in a running service.
  await addEvaluationCounts(db, rows);
  await addEvaluationCountsBefore(dbBefore, rows);
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
      const pool = pools[name];
      const lsn = await pool.oneFirst(sql.type(walPosition)`SELECT pg_current_wal_lsn()::text AS lsn`);
      const started = performance.now();
      await variants[name](pool, rows);
      figures[name].ms.push(performance.now() - started);
      figures[name].wal.push(await walBytesSince(pool, lsn));
    }
  }
  console.log(`one flush of ${rows.length.toLocaleString('en')} rows (${FLAGS.toLocaleString('en')} flags), ${ROUNDS} rounds alternating, median:`);
  for (const name of ['before', 'after'] as const) {
    console.log(`  ${name.padEnd(7)} ${median(figures[name].ms).toFixed(1).padStart(7)} ms   ${Math.round(median(figures[name].wal) / 1024).toLocaleString('en').padStart(6)} kB of WAL`);
  }
} finally {
  await db?.end();
  await dbBefore?.end();
  await postgres.stop();
  rmSync(scratch, { recursive: true, force: true });
}
