import { Command, CommanderError, Option } from 'commander';
import { registerAuditCommands } from './commands/audit-commands.ts';
import { registerChangeCommands } from './commands/change-commands.ts';
import { registerCodeCommands } from './commands/code-commands.ts';
import { registerCompletionCommand } from './commands/completion-command.ts';
import { registerEvaluationCommands } from './commands/evaluation-commands.ts';
import { registerFlagCommands } from './commands/flag-commands.ts';
import { registerImportCommands } from './commands/import-commands.ts';
import { registerKillswitchCommands } from './commands/killswitch-commands.ts';
import { registerProfileCommands } from './commands/profile-commands.ts';
import { registerRolloutCommands } from './commands/rollout-commands.ts';
import { registerSnapshotCommands } from './commands/snapshot-commands.ts';
import { registerTokenCommands } from './commands/token-commands.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { OUTPUT_FORMATS } from './output.ts';
import { Session } from './session.ts';

export const VERSION = '0.1.0';

const EXIT_CODES_HELP = `
Exit codes:
  0  done
  1  failed (refused input, service unavailable, network error)
  2  usage: wrong command line, no service URL
  3  conflict: the server changed since the plan or read, a rollout is running, a prerequisite loop
  4  approval pending: a high-impact change was filed as a change request
  5  unauthenticated or not permitted
  6  not found

Connection: --url/--token, else FLAGSHIP_URL/FLAGSHIP_TOKEN, else the profile
(--profile, FLAGSHIP_PROFILE, or the current one) in ~/.config/flagship/config.yaml (FLAGSHIP_CONFIG).
An explicit --profile wins over FLAGSHIP_URL/FLAGSHIP_TOKEN.`;

export function createProgram(env: NodeJS.ProcessEnv): { program: Command; session: Session } {
  const program = new Command('flagship')
    .description('Manage Flagship feature flags from a terminal or a pipeline: flags as code, imports, rollouts, approvals, killswitches, audit.')
    .version(VERSION)
    .option('--profile <name>', 'profile of the config file to use (one per deployment)')
    .option('--url <url>', 'the service\'s base URL (overrides the profile and FLAGSHIP_URL)')
    .option('--token <token>', 'bearer token (overrides the profile and FLAGSHIP_TOKEN)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .option('--no-color', 'never colour the output (colour is used only on a terminal anyway)')
    .addHelpText('after', EXIT_CODES_HELP)
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.trimEnd().split('\n')[0] + '\n') });
  const session = new Session(program, env);
  registerProfileCommands(program, session);
  registerCodeCommands(program, session);
  registerImportCommands(program, session);
  registerFlagCommands(program, session);
  registerEvaluationCommands(program, session);
  registerKillswitchCommands(program, session);
  registerRolloutCommands(program, session);
  registerChangeCommands(program, session);
  registerAuditCommands(program, session);
  registerSnapshotCommands(program, session);
  registerTokenCommands(program, session);
  registerCompletionCommand(program);
  // Every subcommand reports its own usage errors the same way: one line, exit 2.
  const configure = (command: Command) => {
    for (const sub of command.commands) {
      sub.exitOverride().showSuggestionAfterError().configureOutput({ outputError: (text, write) => write(text.trimEnd().split('\n')[0] + '\n') });
      configure(sub);
    }
  };
  configure(program);
  return { program, session };
}

/** Runs one invocation and answers its exit code; every failure is one line on stderr. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { program, session } = createProgram(env);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return session.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      // Everything else is a usage error, already reported on one line; a command group called
      // without its subcommand ('commander.help') printed its help instead.
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`flagship: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`flagship: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.failure;
  }
}
