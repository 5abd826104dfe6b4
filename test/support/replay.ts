import { readFileSync } from 'node:fs';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { quietTemporal } from './logger.ts';

/**
 * Replays recorded histories (JSON files in `directory`) against the workflow code as it is now,
 * without a server; returns one line per history that no longer replays, and how many replayed.
 */
export async function replayHistories(directory: string, files: readonly string[]): Promise<{ failures: string[]; replayed: number }> {
  quietTemporal();
  const histories = files.map((name) => ({
    workflowId: name.replace(/\.json$/, ''),
    history: historyFromJSON(JSON.parse(readFileSync(`${directory}${name}`, 'utf8'))),
  }));
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) } }, histories)) {
    replayed += 1;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
  }
  return { failures, replayed };
}
