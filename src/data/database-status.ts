import type { Logger } from '../log.ts';

/**
 * Whether this process can reach PostgreSQL, as its own queries find out. An outage is logged
 * twice, once when it starts (warn, with the first error) and once when it ends (info, with how
 * long it lasted and how many failures it caused), instead of a stack trace per failed request.
 */
export class DatabaseStatus {
  readonly #log: Logger;
  #downSince: number | null = null;
  #lastError: string | null = null;
  #failures = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  get reachable(): boolean {
    return this.#downSince === null;
  }

  /** When the current outage was first noticed (epoch ms); null while the database answers. */
  get downSince(): number | null {
    return this.#downSince;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** A query failed because the database could not be reached; `where` names what was trying. */
  unreachable(error: unknown, where: string): void {
    this.#failures += 1;
    this.#lastError = error instanceof Error ? error.message : String(error);
    if (this.#downSince !== null) return;
    this.#downSince = Date.now();
    this.#log.warn({ err: error, where }, 'PostgreSQL cannot be reached: evaluations go on from memory, writes answer 503 until it returns');
  }

  /** A query succeeded. */
  answered(): void {
    if (this.#downSince === null) return;
    this.#log.info({ seconds: (Date.now() - this.#downSince) / 1000, failures: this.#failures }, 'PostgreSQL answers again');
    this.#downSince = null;
    this.#failures = 0;
  }
}
