// Runs the real service for a benchmark: `npm start`'s launcher on a scratch data folder and free
// ports, started and stopped as a user would (SIGTERM), with helpers to seed flags underneath it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlagDefinition, SegmentDefinition } from '@flagship/engine';
import { createDatabasePool } from '../src/data/pool.ts';
import { embeddedDatabaseUrls } from '../src/launcher/embedded-postgres.ts';
import { sql } from '../src/data/sql.ts';
import { inWriteTransaction } from '../src/data/write-transaction.ts';
import { freePorts } from '../test/support/ports.ts';

const root = new URL('../', import.meta.url).pathname;

export async function prepareBenchService(extraEnv: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-'));
  chmodSync(dataDir, 0o755);
  // A service's data folder is hundreds of MB; it goes when the benchmark does, finished or failed.
  process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  const env = {
    ...process.env,
    FLAGS_DATA_DIR: dataDir,
    PORT: String(await freePorts(1)),
    FLAGS_PG_PORT: String(await freePorts(1)),
    FLAGS_TEMPORAL_PORT: String(await freePorts(3)),
    FLAGS_TEMPORAL_UI_PORT: String(await freePorts(1)),
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  let output = '';
  return {
    /** What the service printed (its logs), for a benchmark to show when something fails. */
    output: () => output,
    dataDir,
    baseUrl: `http://127.0.0.1:${env.PORT}`,
    temporalAddress: `127.0.0.1:${env.FLAGS_TEMPORAL_PORT}`,
    /** The application's role on the embedded PostgreSQL, once the service has started it. */
    databaseUrl: () => embeddedDatabaseUrls(dataDir, Number(env.FLAGS_PG_PORT)).databaseUrl,
    adminToken: () => readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),

    /** Starts the launcher and resolves when it prints its banner, with the seconds that took; `overrides` change settings for this start. */
    startService(overrides: Record<string, string> = {}): Promise<{ child: ChildProcess; seconds: number }> {
      const started = performance.now();
      const child = spawn(process.execPath, [join(root, 'src/launcher/main.ts')], { env: { ...env, ...overrides }, stdio: ['ignore', 'pipe', 'pipe'] });
      output = '';
      return new Promise((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Feature-flag service ready')) resolve({ child, seconds: (performance.now() - started) / 1000 });
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        child.once('exit', (code) => reject(new Error(`the service exited with ${code}:\n${output}`)));
      });
    },

    async stopService(child: ChildProcess): Promise<void> {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },

    /** Resident memory of the launcher (the first API process) and of each extra API process, in MiB. */
    apiMemory(child: ChildProcess): number[] {
      return apiPids(child).map((pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
    },

    /** CPU seconds (user + system) the API processes have used so far. */
    apiCpuSeconds(child: ChildProcess): number {
      return cpuSeconds(apiPids(child));
    },

    /** The launcher (which serves the first API) and every extra API process. */
    apiPids,
  };
}

/** CPU seconds (user + system) the processes have used so far. */
export function cpuSeconds(pids: readonly number[]): number {
  // Fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name, in clock ticks.
  const ticks = pids.map((pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')).reduce((sum, fields) => sum + Number(fields[11]) + Number(fields[12]), 0);
  return ticks / CLOCK_TICKS_PER_SECOND;
}

export const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** The launcher, which serves the first API, and every extra API process. */
function apiPids(child: ChildProcess): number[] {
  const extra = spawnSync('pgrep', ['-f', `${root}src/api/main.ts`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
  return [child.pid!, ...extra];
}

/**
 * Seeds flags underneath the API, in one transaction (the API writes one flag per request; 10,000
 * of those would make a benchmark about seeding). Each flag still gets its outbox event.
 */
export async function seedFlags(databaseUrl: string, segments: SegmentDefinition[], flags: FlagDefinition[]): Promise<void> {
  // 10,000 flags in one transaction take longer than an API write's deadline, on a busy machine by far.
  const db = await createDatabasePool(databaseUrl, { writeTimeoutMs: 120_000 });
  try {
    await inWriteTransaction(db, async (tx) => {
      for (const segment of segments) {
        await tx.query(sql.typeAlias('void')`INSERT INTO segments (key, version, definition, created_by, updated_by) VALUES (${segment.key}, 1, ${sql.jsonb(segment as never)}, 'bench', 'bench')`);
      }
      for (let start = 0; start < flags.length; start += 1_000) {
        const batch = flags.slice(start, start + 1_000);
        await tx.query(sql.typeAlias('void')`
          INSERT INTO flags (key, version, state, definition, description, tags, search_text, created_by, updated_by)
          SELECT key, 1, 'active', definition, description, tags, key || ' ' || description || ' ' || array_to_string(tags, ' '), 'bench', 'bench'
          FROM jsonb_to_recordset(${sql.jsonb(batch.map((flag) => ({ key: flag.key, definition: flag, description: flag.description, tags: flag.tags })) as never)})
            AS t(key text, definition jsonb, description text, tags text[])`);
        await tx.query(sql.typeAlias('void')`
          INSERT INTO outbox (type, entity_key, payload)
          SELECT 'flag.created', key, '{}'::jsonb FROM jsonb_to_recordset(${sql.jsonb(batch.map((flag) => ({ key: flag.key })) as never)}) AS t(key text)`);
      }
    });
  } finally {
    await db.end();
  }
}
