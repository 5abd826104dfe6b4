import { fork } from 'node:child_process';
import type { Logger } from '../log.ts';
import { stopChild } from './child-process.ts';

const ENTRIES = {
  api: new URL('../api/main.ts', import.meta.url).pathname,
  worker: new URL('../worker/main.ts', import.meta.url).pathname,
} as const;

/**
 * Forks an API or worker process and resolves once it reports ready over IPC; fails if it exits
 * first. A process that dies later calls `onUnexpectedExit`, so the launcher can stop the rest
 * instead of running half a service.
 */
export async function startServiceProcess(options: {
  kind: keyof typeof ENTRIES;
  env: NodeJS.ProcessEnv;
  log: Logger;
  onUnexpectedExit: (code: number | null) => void;
  readyTimeoutMs?: number;
}): Promise<{ stop(): Promise<void> }> {
  const child = fork(ENTRIES[options.kind], [], { env: options.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${options.kind} process did not start in time`)), options.readyTimeoutMs ?? 60_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${options.kind} process exited with code ${code} during start-up`));
    });
  });
  let stopping = false;
  child.once('exit', (code) => {
    if (!stopping) options.onUnexpectedExit(code);
  });
  options.log.info({ pid: child.pid, kind: options.kind }, 'process ready');
  return {
    stop() {
      stopping = true;
      return stopChild(child);
    },
  };
}
