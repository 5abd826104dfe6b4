import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The project's own install of schemathesis; created on first need, never system-wide. */
export const SCHEMATHESIS_DIR = new URL('../../.tools/schemathesis/', import.meta.url).pathname;
const REQUIREMENTS = new URL('./schemathesis-requirements.txt', import.meta.url).pathname;
/** Holds the requirements the install was made from, so a changed pin installs afresh. */
const INSTALLED_MARKER = join(SCHEMATHESIS_DIR, '.installed-from');

function python(): string {
  for (const candidate of ['python3', 'python']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  throw new Error('python3 is needed to install schemathesis (from PyPI, into .tools/schemathesis)');
}

/**
 * Installs the pinned schemathesis (test/support/schemathesis-requirements.txt) into
 * `.tools/schemathesis` with pip's `--target`, as the Temporal CLI is installed, unless that exact
 * set is there already. Returns the Python to run it with.
 */
export function ensureSchemathesis(onInstall: (message: string) => void = () => {}): string {
  const interpreter = python();
  const wanted = readFileSync(REQUIREMENTS, 'utf8');
  if (existsSync(INSTALLED_MARKER) && readFileSync(INSTALLED_MARKER, 'utf8') === wanted) return interpreter;
  rmSync(SCHEMATHESIS_DIR, { recursive: true, force: true });
  onInstall(`installing schemathesis (${REQUIREMENTS}) into ${SCHEMATHESIS_DIR}`);
  const result = spawnSync(
    interpreter,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', '--target', SCHEMATHESIS_DIR, '-r', REQUIREMENTS],
    { encoding: 'utf8', env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
  );
  if (result.status !== 0) throw new Error(`pip could not install schemathesis: ${(result.stderr || result.stdout || String(result.error)).trim()}`);
  writeFileSync(INSTALLED_MARKER, wanted);
  return interpreter;
}

export interface SchemathesisRun {
  exitCode: number | null;
  output: string;
}

/** Runs `schemathesis …args` in `cwd` from the project's install; resolves when it ends (or is killed at `timeoutMs`). */
export function runSchemathesis(interpreter: string, args: readonly string[], timeoutMs: number, cwd: string): Promise<SchemathesisRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(interpreter, ['-m', 'schemathesis.cli', ...args], {
      cwd,
      env: { ...process.env, PYTHONPATH: SCHEMATHESIS_DIR, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ exitCode, output });
    });
  });
}
