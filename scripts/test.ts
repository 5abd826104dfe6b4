// `npm test`: typecheck, lint, then the whole Jest suite (unit, and integration against the real
// PostgreSQL and Temporal server that Jest's global set-up starts). Ends with one plain line,
// "tests: N passed, N failed, N skipped", that CI reads; exits non-zero if any step failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = (name: string): string => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;

function step(title: string, command: string, args: string[]): number {
  process.stderr.write(`\n== ${title}\n`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  return result.status ?? 1;
}

if (step('typecheck', bin('tsc'), ['-p', 'tsconfig.json']) !== 0) process.exit(1);
if (step('lint', bin('eslint'), ['.']) !== 0) process.exit(1);

const resultsDir = mkdtempSync(join(tmpdir(), 'jest-results-'));
const resultsFile = join(resultsDir, 'results.json');
const status = step('jest', process.execPath, [
  '--experimental-vm-modules',
  '--no-warnings=ExperimentalWarning',
  new URL('../node_modules/jest/bin/jest.js', import.meta.url).pathname,
  // A leaked handle must fail a test, not hang CI until its time limit: the run ends when the tests do.
  '--forceExit',
  '--json',
  `--outputFile=${resultsFile}`,
  ...process.argv.slice(2),
]);
try {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
  };
  process.stdout.write(`\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped\n`);
} catch {
  process.stdout.write('\ntests: 0 passed, 1 failed\n');
}
rmSync(resultsDir, { recursive: true, force: true });
process.exit(status);
