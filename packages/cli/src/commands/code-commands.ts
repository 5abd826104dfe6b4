import { readFileSync, writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { applyPlan, checkSavedPlan, type AppliedChange } from '../apply.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { byKey, compact, readDocument, serialize, writeDocument, type Definition, type DocumentFormat, type FlagDocument } from '../flag-document.ts';
import { printResult } from '../output.ts';
import { computePlan, describePlan, readServerState, type Plan } from '../plan.ts';
import type { Session } from '../session.ts';

/** Flags as code: export the server's flags and segments, plan a document against it, apply it. */
export function registerCodeCommands(program: Command, session: Session): void {
  program
    .command('export')
    .description('Write the active flags and the segments as a declarative document (stable order, defaults left out)')
    .option('-f, --file <path>', 'write one document to this file (default: stdout)')
    .option('-d, --dir <folder>', 'write one file per flag and segment under this folder (flags/<key>.yaml, segments/<key>.yaml)')
    .addOption(new Option('--format <format>', 'document format').choices(['yaml', 'json']).default('yaml'))
    .option('--tag <tag>', 'only flags with this tag (segments are always exported)')
    .option('--prefix <prefix>', 'only flags whose key starts with this')
    .action(async (options: { file?: string; dir?: string; format: DocumentFormat; tag?: string; prefix?: string }) => {
      if (options.file && options.dir) throw new CliError('give --file or --dir, not both', EXIT.usage);
      const client = session.client();
      const [flags, segments] = await Promise.all([
        client.all<Definition>('/v1/flags', { state: 'active', tag: options.tag, prefix: options.prefix }),
        client.all<Definition>('/v1/segments'),
      ]);
      const document = exportDocument(flags, segments);
      if (options.dir) {
        const written = writeDocument(document, options.dir, { format: options.format, split: true });
        session.terminal.note(`Exported ${document.flags.length} flags and ${document.segments.length} segments into ${written.length} files under ${options.dir}.`);
      } else if (options.file) {
        writeDocument(document, options.file, { format: options.format, split: false });
        session.terminal.note(`Exported ${document.flags.length} flags and ${document.segments.length} segments to ${options.file}.`);
      } else {
        process.stdout.write(serialize(document, options.format));
      }
    });

  program
    .command('plan')
    .description('Show, field by field, what applying a document would change on the server')
    .requiredOption('-f, --file <path>', 'a document, or a folder of them (.yaml, .yml, .json)')
    .option('--prune', 'also plan to archive flags and delete segments the document does not define')
    .option('--save <path>', 'save the plan, so apply --plan refuses if the server changes in between')
    .option('--detailed-exitcode', 'exit 0 with no changes, 10 with changes (for pipelines)')
    .action(async (options: { file: string; prune?: boolean; save?: string; detailedExitcode?: boolean }) => {
      const document = readDocument(options.file);
      const client = session.client();
      const plan = computePlan(document, await readServerState(client), { prune: options.prune === true, url: client.connection.url });
      if (options.save) writeFileSync(options.save, `${JSON.stringify(plan, null, 2)}\n`);
      printPlan(session, plan);
      if (options.detailedExitcode && plan.changes.length) session.exitCode = 10;
    });

  program
    .command('apply')
    .description('Make the server match a document: version-checked writes; high-impact flags file change requests')
    .requiredOption('-f, --file <path>', 'a document, or a folder of them (.yaml, .yml, .json)')
    .option('--prune', 'archive flags and delete segments the document does not define (never without it)')
    .option('--plan <path>', 'a plan saved by plan --save: refuse (exit 3) if the server changed since')
    .option('--reason <text>', 'the reason given to approvers of high-impact changes')
    .action(async (options: { file: string; prune?: boolean; plan?: string; reason?: string }) => {
      const document = readDocument(options.file);
      const client = session.client();
      const server = await readServerState(client);
      const plan = computePlan(document, server, { prune: options.prune === true, url: client.connection.url });
      if (options.plan) {
        const saved = readSavedPlan(options.plan);
        if (saved.url !== plan.url) throw new CliError(`the plan in ${options.plan} was made against ${saved.url}, not ${plan.url}`, EXIT.usage);
        checkSavedPlan(saved, plan);
      }
      const terminal = session.terminal;
      if (plan.changes.length === 0) {
        if (terminal.format === 'table') terminal.out('No changes: the server matches the document.');
        else printResult(terminal, { results: [] });
        return;
      }
      const results = await applyPlan(client, plan, document, server, {
        ...(options.reason ? { approvalReason: options.reason } : {}),
        onApplied: (applied) => {
          if (terminal.format === 'table') terminal.out(describeApplied(applied));
        },
      });
      const pending = results.filter((result) => result.outcome === 'approval_pending');
      if (terminal.format !== 'table') printResult(terminal, { results });
      else terminal.out(`\nApplied ${results.length - pending.length} of ${results.length} changes${pending.length ? `; ${pending.length} wait for approval (flagship changes ls --status pending)` : ''}.`);
      if (pending.length) session.exitCode = EXIT.approvalPending;
    });
}

export function exportDocument(flags: Definition[], segments: Definition[]): FlagDocument {
  return {
    segments: segments.map((segment) => compact('segment', segment)).sort(byKey),
    flags: flags.map((flag) => compact('flag', flag)).sort(byKey),
  };
}

function printPlan(session: Session, plan: Plan): void {
  const terminal = session.terminal;
  if (terminal.format === 'table') terminal.out(describePlan(plan, (format, text) => terminal.style(format, text)));
  else printResult(terminal, plan);
}

function describeApplied(applied: AppliedChange): string {
  if (applied.outcome === 'approval_pending') {
    return `! ${applied.kind} ${applied.key}: high-impact, change request ${applied.changeRequest?.id} filed; it waits for a second person (expires ${applied.changeRequest?.expiresAt})`;
  }
  const version = applied.version === undefined ? '' : ` (version ${applied.version})`;
  return `✓ ${applied.kind} ${applied.key}: ${applied.action === 'create' ? 'created' : applied.action === 'update' ? 'updated' : applied.action === 'restore' ? 'restored' : applied.action === 'archive' ? 'archived' : 'deleted'}${version}`;
}

function readSavedPlan(path: string): Plan {
  try {
    const plan = JSON.parse(readFileSync(path, 'utf8')) as Plan;
    if (!Array.isArray(plan.changes) || typeof plan.url !== 'string') throw new Error('not a plan');
    return plan;
  } catch (error) {
    throw new CliError(`${path} is not a plan saved by flagship plan --save: ${(error as Error).message}`, EXIT.usage);
  }
}
