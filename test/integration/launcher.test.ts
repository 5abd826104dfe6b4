import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { freePorts } from '../support/ports.ts';

const LAUNCHER = new URL('../../src/launcher/main.ts', import.meta.url).pathname;

interface Launch {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function launch(env: Record<string, string>): Launch {
  const child = spawn(process.execPath, [LAUNCHER], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, like a terminal session: a Ctrl-C reaches every process in it.
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitForOutput(run: Launch, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = run.output().match(pattern);
    if (match) return match;
    if (run.child.exitCode !== null) throw new Error(`launcher exited early:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Processes of this launch: PostgreSQL and the Temporal dev server name the data folder on their
 * command line, the worker and API children carry it in their environment.
 */
function processesUsing(dataDir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const environment = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (commandLine.includes(dataDir) || environment.includes(`FLAGS_DATA_DIR=${dataDir}\0`)) found.push(`${pid} ${commandLine}`);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

async function ports() {
  return { PORT: String(await freePorts(1)), FLAGS_PG_PORT: String(await freePorts(1)), FLAGS_TEMPORAL_PORT: String(await freePorts(3)), FLAGS_TEMPORAL_UI_PORT: String(await freePorts(1)) };
}

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'launcher-'));
  chmodSync(dir, 0o755);
  return dir;
}

describe('npm start (the launcher)', () => {
  it('brings every part up, stops them all on SIGTERM, and finds the same data on the next start', async () => {
    const dataDir = scratch();
    const env = { FLAGS_DATA_DIR: dataDir, ...(await ports()) };

    const first = launch(env);
    const [, apiUrl] = await waitForOutput(first, /API\s+(http:\/\/\S+)/);
    const [, uiUrl] = await waitForOutput(first, /Temporal UI\s+(http:\/\/\S+)/);
    const health = await fetch(`${apiUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', database: { ok: true }, temporal: { ok: true } });
    expect((await fetch(uiUrl!)).status).toBe(200);
    expect(processesUsing(dataDir).some((line) => line.includes('src/worker/main.ts'))).toBe(true);
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    expect(adminToken).toMatch(/^ffs_/);

    const db = new pg.Client({ connectionString: `postgres://flags:flags@127.0.0.1:${env.FLAGS_PG_PORT}/flags` });
    await db.connect();
    await db.query(`INSERT INTO killswitches (category, engaged, updated_by) VALUES ('survives-restart', false, 'test')`);
    await db.end();

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);

    const second = launch(env);
    await waitForOutput(second, /Feature-flag service ready/);
    expect(second.output()).not.toMatch(/migration applied/);
    expect(readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()).toBe(adminToken);
    const again = new pg.Client({ connectionString: `postgres://flags:flags@127.0.0.1:${env.FLAGS_PG_PORT}/flags` });
    await again.connect();
    const { rows } = await again.query(`SELECT category FROM killswitches`);
    await again.end();
    expect(rows).toEqual([{ category: 'survives-restart' }]);
    // Ctrl-C in a terminal: SIGINT to the whole group, PostgreSQL and Temporal included.
    process.kill(-second.child.pid!, 'SIGINT');
    expect(await second.exited).toBe(0);
    expect(second.output()).toMatch(/stopped PostgreSQL/);
    expect(second.output()).not.toMatch(/Client already closed|Uncaught|triggerUncaughtException/);
    expect(processesUsing(dataDir)).toEqual([]);
  }, 120_000);

  it('leaves nothing running when start-up fails half way', async () => {
    const dataDir = scratch();
    const env = { FLAGS_DATA_DIR: dataDir, ...(await ports()) };
    // Taking the API's port makes start-up fail after PostgreSQL, Temporal and the worker are up.
    const blocker = createServer().listen(Number(env.PORT), '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    try {
      const run = launch(env);
      expect(await run.exited).toBe(1);
      expect(run.output()).toMatch(/start-up failed.*EADDRINUSE/);
      expect(run.output()).toMatch(/stopped PostgreSQL/);
      expect(processesUsing(dataDir)).toEqual([]);
      expect(existsSync(join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    } finally {
      blocker.close();
    }
  }, 120_000);
});
