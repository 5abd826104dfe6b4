import type { Command } from 'commander';
import { usageError } from '../exit-codes.ts';
import { printResult } from '../output.ts';
import type { Session } from '../session.ts';
import { pathKey } from './command-helpers.ts';

interface Killswitch {
  category: string;
  engaged: boolean;
  /** The category's active flags. */
  flags: string[];
  reason: string | null;
  updatedAt: string | null;
  updatedBy: string | null;
}

/** `kill` and `release` a killswitch category, and `killswitches` to list them. */
export function registerKillswitchCommands(program: Command, session: Session): void {
  for (const action of ['kill', 'release'] as const) {
    program
      .command(`${action} <category>`)
      .description(action === 'kill' ? 'Engage a killswitch: every flag of the category serves its off value; its running rollouts pause' : 'Release a killswitch: the category\'s flags evaluate normally again')
      .requiredOption('-r, --reason <text>', 'why (recorded in the audit log; an incident number helps)')
      .action(async (category: string, options: { reason: string }) => {
        if (!options.reason.trim()) throw usageError('--reason must say why');
        const verb = action === 'kill' ? 'engage' : 'release';
        const answer = await session.client().request<Killswitch>('POST', `/v1/killswitches/${pathKey(category)}/${verb}`, { body: { reason: options.reason } });
        printResult(session.terminal, answer.body);
      });
  }

  program
    .command('killswitches')
    .description('List the killswitch categories, their state and their flags')
    .action(async () => {
      const { items } = await session.client().get<{ items: Killswitch[] }>('/v1/killswitches');
      printResult(session.terminal, items, [
        { header: 'CATEGORY', value: (item) => item.category },
        { header: 'ENGAGED', value: (item) => (item.engaged ? 'yes' : 'no') },
        { header: 'FLAGS', value: (item) => item.flags.join(',') },
        { header: 'BY', value: (item) => item.updatedBy },
        { header: 'REASON', value: (item) => item.reason },
      ]);
    });
}
