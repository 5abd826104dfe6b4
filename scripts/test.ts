// `npm test`: the typecheck, the lint, the tests' tools (scripts/install-test-tools.ts) and the whole
// Jest suite (unit, and integration against the real PostgreSQL and Temporal server that Jest's
// global set-up starts), side by side: none needs another's result, and a test that needs a tool
// waits for its install (test/support/test-tools.ts). The typecheck's, the lint's and the tools'
// output is printed when each ends.
// Ends with one plain line, "tests: N passed, N failed, N skipped", that CI reads (a failed typecheck
// or lint counts as one failed test each, so the line alone says the run failed); exits non-zero if
// any step failed.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENV } from '../test/setup/test-environment.ts';

const bin = (name: string): string => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;

/**
 * Runs a step beside the tests with its output held back, then prints it under the step's title
 * with its status and time. It runs at a lower priority than Jest: the tests hold time bounds (a
 * write's 1.5 s deadline, a search's median) that the typecheck must not take the cores from.
 */
function backgroundStep(title: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = Date.now();
  const child = spawn('nice', ['-n', '10', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => {
    child.once('close', (code) => {
      const status = code ?? 1;
      process.stderr.write(`\n== ${title}: ${status === 0 ? 'ok' : `failed (exit ${status})`} in ${((Date.now() - started) / 1000).toFixed(1)} s\n${output}`);
      resolve(status);
    });
  });
}

function step(title: string, command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  process.stderr.write(`\n== ${title}\n`);
  const child = spawn(command, args, { stdio: 'inherit', env });
  return new Promise((resolve) => child.once('close', (code) => resolve(code ?? 1)));
}

const RUN_FOLDER_PREFIX = 'flagship-test-run-';
/** Older than any run: a folder this old whose run's process is gone was left by a run that was killed. */
const ABANDONED_AFTER_MS = 6 * 60 * 60 * 1000;

/** Removes the folders of earlier runs that were killed before they could remove their own. */
function removeAbandonedRunFolders(parent: string): void {
  for (const name of readdirSync(parent)) {
    const match = new RegExp(`^${RUN_FOLDER_PREFIX}(\\d+)-`).exec(name);
    if (!match) continue;
    const folder = join(parent, name);
    try {
      if (Date.now() - statSync(folder).mtimeMs < ABANDONED_AFTER_MS || processIsAlive(Number(match[1]))) continue;
      rmSync(folder, { recursive: true, force: true });
      process.stderr.write(`removed ${folder}, left by a test run that did not finish\n`);
    } catch {
      // Another run removed it first, or it is not ours to remove.
    }
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Everything this run writes to a temporary folder (Jest's results, each test file's own folder,
// the data folders of the services and tools the tests start) goes under one folder, removed when
// the run ends: a run cannot leave gigabytes behind for the next one, on a machine whose disk
// other runs share.
removeAbandonedRunFolders(tmpdir());
const runDir = mkdtempSync(join(tmpdir(), `${RUN_FOLDER_PREFIX}${process.pid}-`));
// PostgreSQL runs as its own user when we are root, and must pass through to its cluster.
chmodSync(runDir, 0o755);
const resultsDir = mkdtempSync(join(runDir, 'jest-results-'));
const resultsFile = join(resultsDir, 'results.json');
const toolsDoneDir = join(resultsDir, 'tools-done');
mkdirSync(toolsDoneDir);
const env = { ...process.env, TMPDIR: runDir, [ENV.toolsDoneDir]: toolsDoneDir };

const typecheck = backgroundStep('typecheck', bin('tsc'), ['-p', 'tsconfig.json'], env);
const lint = backgroundStep('lint', bin('eslint'), ['.'], env);
// A tool that failed to install is installed again, and its error reported, by the test that needs it.
const tools = backgroundStep('tools', process.execPath, [new URL('./install-test-tools.ts', import.meta.url).pathname], env);
const jest = step('jest', process.execPath, [
  '--experimental-vm-modules',
  '--no-warnings=ExperimentalWarning',
  new URL('../node_modules/jest/bin/jest.js', import.meta.url).pathname,
  // A handle a test leaves open (a timer, a socket) would keep Jest from exiting until CI's time
  // limit; the run ends when the tests do instead.
  '--forceExit',
  '--json',
  `--outputFile=${resultsFile}`,
  ...process.argv.slice(2),
], env);

const [typecheckStatus, lintStatus, jestStatus] = await Promise.all([typecheck, lint, jest, tools]);
const failedChecks = [typecheckStatus, lintStatus].filter((status) => status !== 0).length;
try {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
  };
  process.stdout.write(`\ntests: ${results.numPassedTests} passed, ${results.numFailedTests + failedChecks} failed, ${results.numPendingTests + results.numTodoTests} skipped\n`);
} catch {
  process.stdout.write(`\ntests: 0 passed, ${1 + failedChecks} failed\n`);
}
rmSync(runDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
if (typecheckStatus !== 0) process.stderr.write('\nthe typecheck failed (its output is above)\n');
if (lintStatus !== 0) process.stderr.write('\nthe lint failed (its output is above)\n');
process.exit(typecheckStatus || lintStatus || jestStatus);
