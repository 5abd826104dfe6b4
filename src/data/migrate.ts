import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.ts';

export const MIGRATIONS_DIR = new URL('../../sql/', import.meta.url).pathname;

const MIGRATION_FILE = /^(\d{3,})_[a-z0-9_]+\.sql$/;
/** Any constant will do; it keeps two processes from migrating the same database at once. */
const MIGRATION_LOCK_KEY = 7_233_001;

export class MigrationError extends Error {
  readonly file: string;
  readonly databaseMessage: string;

  constructor(file: string, databaseMessage: string) {
    super(`migration ${file} failed: ${databaseMessage}`);
    this.name = 'MigrationError';
    this.file = file;
    this.databaseMessage = databaseMessage;
  }
}

/**
 * Applies every `sql/NNN_name.sql` not yet recorded in `schema_migrations`, in order, each in its
 * own transaction together with its record, so a failed file leaves neither a partial schema nor a
 * record behind. Plain `pg` rather than slonik: migration files hold several statements, which only
 * the simple query protocol accepts.
 */
export async function migrate(options: {
  databaseUrl: string;
  directory?: string;
  log?: Logger;
}): Promise<string[]> {
  const directory = options.directory ?? MIGRATIONS_DIR;
  const files = readdirSync(directory)
    .filter((name) => name.endsWith('.sql'))
    .sort();
  for (const name of files) {
    if (!MIGRATION_FILE.test(name)) {
      throw new MigrationError(name, 'file name must look like 001_description.sql');
    }
  }
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    // Only the owner may create it; the application's role reaches here too (an API process that
    // checks there is nothing to apply), so an existing table is left alone rather than re-declared.
    const { rows } = await client.query<{ found: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS found`);
    if (!rows[0]?.found) {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        name text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    }
    const done = new Set(
      (await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((row) => row.name),
    );
    for (const name of files) {
      if (done.has(name)) continue;
      const text = readFileSync(join(directory, name), 'utf8');
      try {
        await client.query('BEGIN');
        await client.query(text);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        const message = error instanceof Error ? error.message : String(error);
        // The application's role may not change the schema: say which URL is missing instead of only "permission denied".
        const hint = (error as { code?: string }).code === '42501' ? ' (is this the application\'s role? migrations run as the owner: set FLAGS_MIGRATION_DATABASE_URL)' : '';
        throw new MigrationError(name, `${message}${hint}`);
      }
      options.log?.info({ migration: name }, 'migration applied');
      applied.push(name);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
  return applied;
}
