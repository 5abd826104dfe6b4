import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'flags'): Logger {
  return pino({ name, level });
}
