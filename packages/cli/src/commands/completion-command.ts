import type { Command } from 'commander';
import { usageError } from '../exit-codes.ts';

/** Every command path with the words that may follow it (subcommands and options), for the shell. */
function completionTable(command: Command, prefix: string[] = [], table = new Map<string, string[]>()): Map<string, string[]> {
  const words = [...command.commands.map((sub) => sub.name()), ...command.options.flatMap((option) => [option.long, option.short].filter((flag): flag is string => Boolean(flag)))];
  table.set(prefix.join(' '), words);
  for (const sub of command.commands) completionTable(sub, [...prefix, sub.name()], table);
  return table;
}

/** `completion bash|zsh`: a script that completes commands and options; `source <(flagship completion bash)`. */
export function registerCompletionCommand(program: Command): void {
  program
    .command('completion <shell>')
    .description('Print a shell completion script (bash or zsh): source <(flagship completion bash)')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw usageError(`completion is for bash or zsh, not "${shell}"`);
      const cases = [...completionTable(program)].map(([path, words]) => `    "${path}") words="${words.join(' ')}" ;;`).join('\n');
      const script = `# flagship completion (${shell}); source it from your shell's rc file
_flagship_complete() {
  local path="" word
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$word" in -*) ;; *) path="\${path:+$path }$word" ;; esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
${shell === 'zsh' ? 'autoload -U +X bashcompinit && bashcompinit\n' : ''}complete -F _flagship_complete flagship
`;
      process.stdout.write(script);
    });
}
