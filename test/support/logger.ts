import { createLogger } from '../../src/log.ts';
import { installTemporalRuntime } from '../../src/worker/temporal-runtime.ts';

/** Silent unless LOG_LEVEL asks otherwise, so a failing test's output is the test's own. */
export const testLog = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test');

export function quietTemporal(): void {
  installTemporalRuntime(testLog, process.env.LOG_LEVEL ?? 'warn');
}
