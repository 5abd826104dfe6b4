import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../log.ts';

const LEVELS: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };

/**
 * Routes the Temporal SDK's logs (worker state, the workflow bundler, activity and workflow loggers)
 * into our logger. The worker's state changes and the bundler's webpack report are noise at info
 * level for a feature-flag service, so they are logged at debug unless LOG_LEVEL asks for more.
 */
export function installTemporalRuntime(log: Logger, level: string): void {
  const logger = new DefaultLogger(LEVELS[level] === 'INFO' ? 'WARN' : (LEVELS[level] ?? 'WARN'), (entry) => {
    const method = entry.level === 'TRACE' ? 'trace' : (entry.level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error');
    log[method]({ component: 'temporal', ...entry.meta }, entry.message);
  });
  try {
    Runtime.install({ logger });
  } catch {
    // Installed already in this process (a second worker, or a test file reusing a Jest worker).
  }
}
