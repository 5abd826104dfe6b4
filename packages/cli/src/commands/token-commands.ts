import { Option, type Command } from 'commander';
import { printResult } from '../output.ts';
import type { Session } from '../session.ts';
import { collect, pathKey } from './command-helpers.ts';

interface Token {
  id: string;
  name: string;
  owner: { id: string; name: string; kind: string };
  scopes: string[];
  projectIds: string[] | null;
  createdAt: string;
  revokedAt?: string | null;
}

const SCOPES = ['feature_flag:evaluate', 'feature_flag:manage', 'feature_flag:approve', 'feature_flag:killswitch', 'feature_flag:metrics', 'feature_flag:admin'];

/** `tokens ls/create/revoke`, for admins. */
export function registerTokenCommands(program: Command, session: Session): void {
  const tokens = program.command('tokens').description('List, mint and revoke API tokens (feature_flag:admin)');

  tokens
    .command('ls')
    .description('Live tokens')
    .action(async () => {
      const { items } = await session.client().get<{ items: Token[] }>('/v1/tokens');
      printResult(session.terminal, items, [
        { header: 'ID', value: (token) => token.id },
        { header: 'NAME', value: (token) => token.name },
        { header: 'OWNER', value: (token) => `${token.owner.id} (${token.owner.kind})` },
        { header: 'SCOPES', value: (token) => token.scopes.join(',') },
        { header: 'PROJECTS', value: (token) => token.projectIds?.join(',') ?? 'all' },
        { header: 'CREATED', value: (token) => token.createdAt },
      ]);
    });

  tokens
    .command('create <name>')
    .description('Mint a token; its secret is shown once')
    .addOption(new Option('--scope <scope>', 'a scope (repeat for more)').choices(SCOPES).argParser(collect).makeOptionMandatory())
    .requiredOption('--owner <id>', 'the person or service it belongs to (an e-mail, a subject, a service name)')
    .option('--owner-name <name>', 'their readable name')
    .addOption(new Option('--owner-kind <kind>', 'person or service').choices(['person', 'service']).default('person'))
    .option('--project <id>', 'limit evaluation to this project (repeat for more)', collect)
    .action(async (name: string, options: { scope: string[]; owner: string; ownerName?: string; ownerKind: string; project?: string[] }) => {
      const answer = await session.client().request<Token & { token: string }>('POST', '/v1/tokens', {
        body: {
          name,
          owner: { id: options.owner, kind: options.ownerKind, ...(options.ownerName ? { name: options.ownerName } : {}) },
          scopes: options.scope,
          ...(options.project ? { projectIds: options.project } : {}),
        },
      });
      printResult(session.terminal, answer.body as unknown as Record<string, unknown>);
      if (session.terminal.format === 'table') session.terminal.note('Keep the token: it is not shown again.');
    });

  tokens
    .command('revoke <id>')
    .description('Revoke a token at once, on every API process within a second')
    .action(async (id: string) => {
      await session.client().request('DELETE', `/v1/tokens/${pathKey(id)}`);
      session.terminal.note(`Revoked ${id}.`);
    });
}
