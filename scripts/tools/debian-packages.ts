// Downloads pinned Debian packages into a folder the project owns (`.tools/<name>`) and extracts them
// there, for tools a test or a benchmark runs (Chromium for the console's browser tests; wrk later).
// Nothing is installed system-wide: apt runs with a private configuration, package lists and cache
// under the tool folder, reads the machine's real dpkg status only to know what is there already,
// and takes no lock. Nothing is configured or run from a package either: `dpkg-deb -x` only unpacks.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where every project-owned tool lives (git-ignored). */
export const TOOLS_ROOT = new URL('../../.tools/', import.meta.url).pathname;

export interface DebianPackage {
  name: string;
  /** The exact Debian version string, e.g. `156.0.8078.108-1~deb12u1`. */
  version: string;
}

export interface InstalledPackage extends DebianPackage {
  /** SHA-256 of the .deb that was unpacked, so a changed download shows in the logs. */
  sha256: string;
}

export interface DebianInstall {
  /** The folder the packages were unpacked into (their `usr/…` trees). */
  root: string;
  /** What was asked for (the pins); an install for other pins is replaced. */
  requested: string;
  packages: InstalledPackage[];
}

/** Served versions of a package, newest first, from the private lists. */
export type ServedVersions = (name: string) => string[];

export interface InstallOptions {
  /** The tool's folder, e.g. `.tools/chromium`. */
  toolDir: string;
  /** A stable description of the pins; a folder installed for other pins is installed again. */
  requested: string;
  /**
   * Picks the exact packages once the private lists are fresh: the pins where they are still
   * served, the tool's own fallback where not (Debian's mirror keeps only the newest security
   * upload and the point release's version, so an exact pin disappears within weeks).
   */
  choose: (served: ServedVersions) => DebianPackage[];
  log?: (message: string) => void;
}

// Debian bookworm only: the image this project runs on. The machine's own sources are not read, so
// an unreachable third-party source of the machine cannot fail the install.
const SOURCES = `Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

function aptConfig(aptDir: string): string {
  return [
    'Dir::Etc::SourceList "/dev/null";',
    `Dir::Etc::SourceParts "${aptDir}/etc";`,
    `Dir::State "${aptDir}/state";`,
    'Dir::State::status "/var/lib/dpkg/status";',
    `Dir::Cache "${aptDir}/cache";`,
    'Debug::NoLocking "true";',
    'APT::Sandbox::User "root";',
    'Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";',
    'Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";',
    'Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";',
    '',
  ].join('\n');
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw new Error(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${(result.stderr || result.stdout).trim().slice(-2000)}`);
  return result.stdout;
}

function readInstall(toolDir: string): DebianInstall | null {
  const manifest = join(toolDir, 'installed.json');
  if (!existsSync(manifest)) return null;
  return JSON.parse(readFileSync(manifest, 'utf8')) as DebianInstall;
}

/**
 * Makes sure `toolDir` holds the packages `choose` picks, unpacked under `toolDir/root`, and returns
 * what is there. An install for the same `requested` pins is reused as it is. The work happens in a
 * folder beside it that is renamed into place at the end, so an interrupted install leaves nothing
 * half-made behind and two processes installing at once both end up with a whole one.
 */
export function installDebianPackages(options: InstallOptions): DebianInstall {
  const log = options.log ?? (() => {});
  const existing = readInstall(options.toolDir);
  if (existing?.requested === options.requested) return existing;

  const staging = `${options.toolDir}.partial-${process.pid}-${Date.now()}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    const aptDir = join(staging, 'apt');
    for (const folder of ['etc', 'state/lists/partial', 'cache/archives/partial']) mkdirSync(join(aptDir, folder), { recursive: true });
    writeFileSync(join(aptDir, 'etc', 'debian.sources'), SOURCES);
    writeFileSync(join(aptDir, 'apt.conf'), aptConfig(aptDir));
    const env = { ...process.env, APT_CONFIG: join(aptDir, 'apt.conf'), DEBIAN_FRONTEND: 'noninteractive' };

    log(`updating private Debian package lists in ${aptDir}`);
    run('apt-get', ['-q', 'update'], { env });
    const served: ServedVersions = (name) =>
      run('apt-cache', ['madison', name], { env })
        .split('\n')
        .map((line) => line.split('|')[1]?.trim())
        .filter((version): version is string => Boolean(version));
    const packages = options.choose(served);

    const debsDir = join(staging, 'debs');
    mkdirSync(debsDir, { recursive: true });
    log(`downloading ${packages.map((pkg) => `${pkg.name}=${pkg.version}`).join(' ')}`);
    run('apt-get', ['-q', 'download', ...packages.map((pkg) => `${pkg.name}=${pkg.version}`)], { cwd: debsDir, env });

    const root = join(staging, 'root');
    mkdirSync(root, { recursive: true });
    const installed: InstalledPackage[] = [];
    const debs = readdirSync(debsDir).filter((file) => file.endsWith('.deb'));
    for (const pkg of packages) {
      const deb = debs.find((file) => file.startsWith(`${pkg.name}_`));
      if (!deb) throw new Error(`apt-get download produced no .deb for ${pkg.name}=${pkg.version}`);
      const path = join(debsDir, deb);
      run('dpkg-deb', ['-x', path, root]);
      installed.push({ ...pkg, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') });
    }
    // The .debs, apt's cache and its lists are spent once unpacked (a new install makes fresh ones).
    rmSync(debsDir, { recursive: true, force: true });
    rmSync(aptDir, { recursive: true, force: true });
    for (const unused of ['usr/share/doc', 'usr/share/man']) rmSync(join(root, unused), { recursive: true, force: true });

    const final: DebianInstall = { root: join(options.toolDir, 'root'), requested: options.requested, packages: installed };
    writeFileSync(join(staging, 'installed.json'), `${JSON.stringify(final, null, 2)}\n`);
    if (existsSync(options.toolDir)) {
      const raced = readInstall(options.toolDir);
      if (raced?.requested === options.requested) return raced;
      rmSync(options.toolDir, { recursive: true, force: true });
    }
    try {
      renameSync(staging, options.toolDir);
    } catch (error) {
      // Another process put its install in place between the check and the rename.
      const raced = readInstall(options.toolDir);
      if (raced?.requested === options.requested) return raced;
      throw error;
    }
    return final;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
