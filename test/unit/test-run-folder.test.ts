import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ABANDONED_AFTER_MS, createRunFolder, removeAbandonedRunFolders } from '../../scripts/test-run-folder.ts';

/** The id of a process that has exited. */
function goneProcessId(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

function folder(parent: string, name: string, ageMs: number): string {
  const path = join(parent, name);
  mkdirSync(path);
  writeFileSync(join(path, 'left-behind'), 'x');
  const touched = new Date(Date.now() - ageMs);
  utimesSync(path, touched, touched);
  return path;
}

describe("npm test's run folder", () => {
  it('is named after the run and open for PostgreSQL to pass through', () => {
    const parent = mkdtempSync(join(tmpdir(), 'runs-'));
    const run = createRunFolder(parent);
    expect(basename(run)).toMatch(new RegExp(`^flagship-test-run-${process.pid}-`));
    expect(statSync(run).mode & 0o777).toBe(0o755);
  });

  it("removes only the folders of runs that are gone and were not touched for hours", () => {
    const parent = mkdtempSync(join(tmpdir(), 'runs-'));
    const old = ABANDONED_AFTER_MS + 60_000;
    const gone = goneProcessId();
    const abandoned = folder(parent, `flagship-test-run-${gone}-aaaaaa`, old);
    const running = folder(parent, `flagship-test-run-${process.pid}-bbbbbb`, old);
    const recent = folder(parent, `flagship-test-run-${gone}-cccccc`, 60_000);
    const unrelated = folder(parent, 'someone-elses-folder', old);

    expect(removeAbandonedRunFolders(parent)).toEqual([abandoned]);
    expect(existsSync(abandoned)).toBe(false);
    for (const kept of [running, recent, unrelated]) expect(existsSync(join(kept, 'left-behind'))).toBe(true);
  });
});
