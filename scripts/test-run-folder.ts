// The one temporary folder of an `npm test` run (scripts/test.ts): everything the run writes to a
// temporary folder goes under it, and it is removed when the run ends, so a run cannot leave
// gigabytes behind for the next one on a machine whose disk other runs share.
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const RUN_FOLDER_PREFIX = 'flagship-test-run-';

/** Longer than any run takes: a folder untouched this long whose run's process is gone was left by a run that was killed. */
export const ABANDONED_AFTER_MS = 6 * 60 * 60 * 1000;

/** Makes the run's folder in `parent`, named after this process so that a later run can tell whether it is still running. */
export function createRunFolder(parent: string): string {
  const folder = mkdtempSync(join(parent, `${RUN_FOLDER_PREFIX}${process.pid}-`));
  // PostgreSQL runs as its own user when we are root, and must pass through to its cluster.
  chmodSync(folder, 0o755);
  return folder;
}

/**
 * Removes the folders in `parent` of earlier runs that were killed before they could remove their
 * own; returns their paths. A folder is left alone while its process lives or while it was touched
 * recently: another machine's run sharing the folder may have a process id this one cannot see.
 */
export function removeAbandonedRunFolders(parent: string, now = Date.now()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(RUN_FOLDER_PREFIX)) continue;
    const pid = Number(name.slice(RUN_FOLDER_PREFIX.length).split('-')[0]);
    const folder = join(parent, name);
    try {
      if (now - statSync(folder).mtimeMs < ABANDONED_AFTER_MS || !Number.isInteger(pid) || processIsAlive(pid)) continue;
      rmSync(folder, { recursive: true, force: true });
      removed.push(folder);
    } catch {
      // Another run removed it first, or it is not ours to remove.
    }
  }
  return removed;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
