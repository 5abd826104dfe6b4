import type { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { processTerminal, type OutputFormat, type Terminal } from './output.ts';
import { resolveConnection, type Connection } from './profiles.ts';

/** The options every command takes, before or after its name. */
export interface GlobalOptions {
  profile?: string;
  url?: string;
  token?: string;
  output: OutputFormat;
  color: boolean;
}

/** What a command needs from the invocation: where to write, and a client for the chosen deployment. */
export class Session {
  readonly env: NodeJS.ProcessEnv;
  /** What the invocation exits with when the command finishes without an error (a pending approval, a plan with changes). */
  exitCode = 0;
  readonly #program: Command;
  #terminal: Terminal | undefined;

  constructor(program: Command, env: NodeJS.ProcessEnv) {
    this.#program = program;
    this.env = env;
  }

  get options(): GlobalOptions {
    return this.#program.opts<GlobalOptions>();
  }

  get terminal(): Terminal {
    // Colour only on a terminal, and never when NO_COLOR is set or --no-color given.
    this.#terminal ??= processTerminal(this.options.output, this.options.color && !this.env.NO_COLOR && process.stdout.isTTY === true);
    return this.#terminal;
  }

  connection(): Connection {
    const { profile, url, token } = this.options;
    return resolveConnection({ ...(profile ? { profile } : {}), ...(url ? { url } : {}), ...(token ? { token } : {}) }, this.env);
  }

  client(): ApiClient {
    return new ApiClient(this.connection());
  }
}
