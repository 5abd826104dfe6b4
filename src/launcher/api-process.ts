import { fork } from 'node:child_process';
import type { Logger } from '../log.ts';
import { stopChild } from './child-process.ts';

const API_MAIN = new URL('../api/main.ts', import.meta.url).pathname;

/** Forks `src/api/main.ts` and resolves once it listens; fails with its output if it exits first. */
export async function startApiProcess(options: { env: NodeJS.ProcessEnv; log: Logger; readyTimeoutMs?: number }): Promise<{ stop(): Promise<void> }> {
  const child = fork(API_MAIN, [], { env: options.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('an extra API process did not start in time')), options.readyTimeoutMs ?? 60_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`an extra API process exited with code ${code} during start-up`));
    });
  });
  options.log.info({ pid: child.pid }, 'extra API process listening');
  return { stop: () => stopChild(child) };
}
