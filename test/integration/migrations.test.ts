import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from '../../src/data/sql.ts';
import { z } from 'zod';
import { MIGRATIONS_DIR, MigrationError, migrate } from '../../src/data/migrate.ts';
import { createDatabasePool } from '../../src/data/pool.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { readdirSync } from 'node:fs';

describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterAll(async () => {
    await db.drop();
  });

  it('applies every file in sql/ once, in order, and records each', async () => {
    const files = readdirSync(MIGRATIONS_DIR).filter((name) => name.endsWith('.sql')).sort();
    expect(await migrate({ databaseUrl: db.ownerUrl })).toEqual(files);
    expect(await migrate({ databaseUrl: db.ownerUrl })).toEqual([]);
    const recorded = await db.pool.manyFirst(sql.type(z.object({ name: z.string() }))`SELECT name FROM schema_migrations ORDER BY name`);
    expect(recorded).toEqual(files);
  });

  it('stops at a failing file, names it with the database message, and leaves nothing of it behind', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(join(directory, '001_good.sql'), 'CREATE TABLE good_one (id int);');
    writeFileSync(join(directory, '002_bad.sql'), 'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;');
    writeFileSync(join(directory, '003_never.sql'), 'CREATE TABLE never_reached (id int);');
    const target = await createTestDatabase({ migrated: false });
    // These tables are not granted to the application's role: look as the owner.
    const owner = await createDatabasePool(target.ownerUrl);
    try {
      const failure = await migrate({ databaseUrl: target.ownerUrl, directory }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(MigrationError);
      expect((failure as MigrationError).file).toBe('002_bad.sql');
      expect((failure as MigrationError).message).toMatch(/002_bad\.sql.*relation "no_such_table" does not exist/);
      const tables = await owner.manyFirst(sql.type(z.object({ name: z.string() }))`
        SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
      expect(tables).toEqual(['good_one', 'schema_migrations']);
      const recorded = await owner.manyFirst(sql.type(z.object({ name: z.string() }))`SELECT name FROM schema_migrations`);
      expect(recorded).toEqual(['001_good.sql']);
    } finally {
      await owner.end();
      await target.drop();
    }
  });

  it('lets the application\'s role find nothing to apply, and tells it to use the owner when something is', async () => {
    expect(await migrate({ databaseUrl: db.url })).toEqual([]);
    const directory = mkdtempSync(join(tmpdir(), 'migrations-'));
    for (const file of readdirSync(MIGRATIONS_DIR)) writeFileSync(join(directory, file), readFileSync(join(MIGRATIONS_DIR, file)));
    writeFileSync(join(directory, '999_later.sql'), 'CREATE TABLE later (id int);');
    const failure = await migrate({ databaseUrl: db.url, directory }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as MigrationError).message).toMatch(/999_later\.sql failed: permission denied for schema public .*set FLAGS_MIGRATION_DATABASE_URL/);
  });

  it('refuses a file whose name does not carry its order', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(join(directory, 'create-things.sql'), 'SELECT 1;');
    await expect(migrate({ databaseUrl: db.ownerUrl, directory })).rejects.toThrow(/create-things\.sql.*001_description\.sql/);
  });
});
