import { spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase } from '../support/database.ts';

const MIGRATE = new URL('../../src/migrate/main.ts', import.meta.url).pathname;

function runMigrationJob(env: Record<string, string>) {
  const { DATABASE_URL: _database, FLAGS_MIGRATION_DATABASE_URL: _migration, ...inherited } = process.env;
  return spawnSync(process.execPath, [MIGRATE], { env: { ...inherited, LOG_LEVEL: 'info', ...env }, encoding: 'utf8', timeout: 60_000 });
}

async function appliedMigrations(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name')).rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

describe('the migration job (src/migrate/main.ts, what the Kubernetes Job runs)', () => {
  it('migrates an empty database as the owner and exits 0; a second run finds nothing pending', async () => {
    const db = await createTestDatabase({ migrated: false });
    try {
      const first = runMigrationJob({ FLAGS_MIGRATION_DATABASE_URL: db.ownerUrl, DATABASE_URL: db.url });
      expect({ status: first.status, output: first.stdout + first.stderr }).toEqual({ status: 0, output: expect.stringContaining('migration(s) applied') });
      expect((await appliedMigrations(db.ownerUrl)).length).toBeGreaterThan(5);
      const again = runMigrationJob({ FLAGS_MIGRATION_DATABASE_URL: db.ownerUrl });
      expect({ status: again.status, output: again.stdout + again.stderr }).toEqual({ status: 0, output: expect.stringContaining('no migration pending') });
    } finally {
      await db.drop();
    }
  });

  it("exits 1 naming the owner's URL when only the application's role is given", async () => {
    const db = await createTestDatabase({ migrated: false });
    try {
      const run = runMigrationJob({ DATABASE_URL: db.url });
      expect(run.status).toBe(1);
      expect(run.stdout + run.stderr).toContain('FLAGS_MIGRATION_DATABASE_URL');
    } finally {
      await db.drop();
    }
  });

  it('exits 1 without a database URL', () => {
    const run = runMigrationJob({});
    expect(run.status).toBe(1);
    expect(run.stdout + run.stderr).toContain('FLAGS_MIGRATION_DATABASE_URL (the owner role) or DATABASE_URL is required');
  });
});
