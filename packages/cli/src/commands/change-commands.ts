import type { Command } from 'commander';
import { printResult } from '../output.ts';
import type { Session } from '../session.ts';
import { pathKey } from './command-helpers.ts';

interface ChangeRequest {
  id: string;
  flagKey: string;
  kind: string;
  status: string;
  requestedBy: string;
  reason: string | null;
  baseVersion: number;
  contentHash: string;
  diff?: { path: string; before?: unknown; after?: unknown }[];
  expiresAt: string;
  createdAt: string;
}

/** `changes ls/show/approve/reject/cancel`: two-person approval of high-impact changes. */
export function registerChangeCommands(program: Command, session: Session): void {
  const changes = program.command('changes').description('Review, approve and reject change requests of high-impact flags');

  changes
    .command('ls')
    .description('Change requests, newest first')
    .option('--status <list>', 'comma-separated: pending, approved, applied, rejected, expired, cancelled, failed')
    .option('--flag <key>', 'only this flag\'s')
    .option('--requested-by <id>', 'only this person\'s')
    .action(async (options: { status?: string; flag?: string; requestedBy?: string }) => {
      const items = await session.client().all<ChangeRequest>('/v1/changes', { status: options.status, flagKey: options.flag, requestedBy: options.requestedBy });
      printResult(session.terminal, items, [
        { header: 'ID', value: (item) => item.id },
        { header: 'FLAG', value: (item) => item.flagKey },
        { header: 'KIND', value: (item) => item.kind },
        { header: 'STATUS', value: (item) => item.status },
        { header: 'BY', value: (item) => item.requestedBy },
        { header: 'EXPIRES', value: (item) => item.expiresAt },
        { header: 'REASON', value: (item) => item.reason },
      ]);
    });

  changes
    .command('show <id>')
    .description('One change request, with its diff')
    .action(async (id: string) => {
      const request = await session.client().get<ChangeRequest>(`/v1/changes/${pathKey(id)}`);
      if (session.terminal.format !== 'table') return printResult(session.terminal, request);
      const { diff = [], ...rest } = request;
      printResult(session.terminal, rest as unknown as Record<string, unknown>);
      session.terminal.out('');
      printResult(session.terminal, diff, [
        { header: 'FIELD', value: (field) => field.path },
        { header: 'BEFORE', value: (field) => field.before },
        { header: 'AFTER', value: (field) => field.after },
      ]);
    });

  changes
    .command('approve <id>')
    .description('Approve (as a second person): the change is applied; the approval binds to the content you saw')
    .option('--content-hash <hash>', 'the content hash you reviewed (default: the one shown now by changes show)')
    .option('--comment <text>', 'a note for the audit log')
    .action(async (id: string, options: { contentHash?: string; comment?: string }) => {
      const client = session.client();
      // Binding the approval to the hash read a moment ago means a request replaced in between is a conflict, not approved unseen.
      const contentHash = options.contentHash ?? (await client.get<ChangeRequest>(`/v1/changes/${pathKey(id)}`)).contentHash;
      const answer = await client.request<Record<string, unknown>>('POST', `/v1/changes/${pathKey(id)}/approve`, { body: { contentHash, ...(options.comment ? { comment: options.comment } : {}) } });
      printResult(session.terminal, answer.body);
    });

  for (const action of ['reject', 'cancel'] as const) {
    changes
      .command(`${action} <id>`)
      .description(action === 'reject' ? 'Reject: nothing is applied' : 'Withdraw your own request')
      .option('--reason <text>', 'why')
      .action(async (id: string, options: { reason?: string }) => {
        const answer = await session.client().request<Record<string, unknown>>('POST', `/v1/changes/${pathKey(id)}/${action}`, { body: options.reason ? { reason: options.reason } : {} });
        printResult(session.terminal, answer.body);
      });
  }
}
