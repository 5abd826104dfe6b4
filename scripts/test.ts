// `npm test`: the typecheck, the lint, the tests' tools (scripts/install-test-tools.ts) and the whole
// Jest suite (unit, and integration against the real PostgreSQL and Temporal server that Jest's
// global set-up starts), side by side: none needs another's result, and a test that needs a tool
// waits for its install (test/support/test-tools.ts). The typecheck's, the lint's and the tools'
// output is printed when each ends.
// Ends with one plain line, "tests: N passed, N failed, N skipped", that CI reads (a failed typecheck
// or lint counts as one failed test each, so the line alone says the run failed); exits non-zero if
// any step failed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENV } from '../test/setup/test-environment.ts';
import { createRunFolder, removeAbandonedRunFolders } from './test-run-folder.ts';

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

// Everything this run writes to a temporary folder (Jest's results, each test file's own folder,
// the data folders of the services and tools the tests start) goes under one folder, removed when
// the run ends.
for (const folder of removeAbandonedRunFolders(tmpdir())) process.stderr.write(`removed ${folder}, left by a test run that did not finish\n`);
const runDir = createRunFolder(tmpdir());
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
