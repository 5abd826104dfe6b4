/**
 * What `flagship` exits with. Scripts branch on these, so they never change meaning; docs/cli.md
 * lists them.
 */
export const EXIT = {
  ok: 0,
  /** Anything else that went wrong: the service refused the input, is unavailable, the network failed. */
  failure: 1,
  /** The command line itself is wrong: an unknown command or option, a missing argument, no service URL. */
  usage: 2,
  /** The server moved on: a version conflict (an edit since the plan), a running rollout, a prerequisite loop. */
  conflict: 3,
  /** The change is filed, not applied: a high-impact flag waits for a second person. */
  approvalPending: 4,
  /** No token, an unknown token, or a token without the scope. */
  unauthorized: 5,
  /** The flag, segment, rollout, change request or token does not exist. */
  notFound: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line and exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode = EXIT.failure) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A wrong command line: exit 2, like a usage error of the parser. */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}
