import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { Option, type Command } from 'commander';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { printResult } from '../output.ts';
import type { Session } from '../session.ts';

interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  actorName: string | null;
  tokenId: string | null;
  approver: string | null;
  action: string;
  entityType: string;
  entityKey: string;
  version: number | null;
  diff: unknown;
  hash: string;
}

interface FilterOptions {
  entityType?: string;
  entityKey?: string;
  actor?: string;
  action?: string;
  since?: string;
}

const CSV_COLUMNS = ['id', 'at', 'actor', 'actorName', 'tokenId', 'approver', 'action', 'entityType', 'entityKey', 'version', 'diff', 'hash'] as const;

function withFilters(command: Command): Command {
  return command
    .addOption(new Option('--entity-type <type>', 'only entries about this kind of thing').choices(['flag', 'segment', 'killswitch', 'token', 'webhook', 'rollout', 'change_request']))
    .option('--entity-key <key>', 'only entries about this flag, segment, category, …')
    .option('--actor <id>', 'only entries by this person or service (or approved by them)')
    .option('--action <action>', 'only this action, e.g. flag.updated')
    .option('--since <time>', 'only entries at or after this time (ISO 8601, or a duration back from now: 24h, 7d)');
}

/** `--since` as an instant: an ISO time, or a duration back from now. */
export function parseSince(text: string, now: number): number {
  const duration = /^(\d+)([smhd])$/.exec(text);
  if (duration) return now - Number(duration[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as 's' | 'm' | 'h' | 'd'];
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw usageError(`--since takes an ISO 8601 time or a duration (24h, 7d), not "${text}"`);
  return at;
}

function queryOf(options: FilterOptions): Record<string, string | undefined> {
  return { entityType: options.entityType, entityKey: options.entityKey, actor: options.actor, action: options.action };
}

function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve, reject) => {
    stream.once('drain', resolve);
    stream.once('error', reject);
  });
}

/** `audit ls`, `audit export` (NDJSON or CSV, streamed page by page, resumable), `audit verify`. */
export function registerAuditCommands(program: Command, session: Session): void {
  const audit = program.command('audit').description('Read, export and verify the audit log');

  withFilters(audit.command('ls').description('Audit entries, newest first'))
    .option('--limit <n>', 'at most this many entries', '50')
    .action(async (options: FilterOptions & { limit: string }) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1) throw usageError('--limit takes a whole number from 1');
      const since = options.since ? parseSince(options.since, Date.now()) : null;
      const entries: AuditEntry[] = [];
      outer: for await (const page of session.client().pages<AuditEntry>('/v1/audit', { ...queryOf(options), limit: Math.min(limit, 200) })) {
        for (const entry of page.items) {
          if ((since !== null && Date.parse(entry.at) < since) || entries.length >= limit) break outer;
          entries.push(entry);
        }
      }
      printResult(session.terminal, entries, [
        { header: 'ID', value: (entry) => entry.id },
        { header: 'AT', value: (entry) => entry.at },
        { header: 'ACTOR', value: (entry) => entry.actor },
        { header: 'APPROVER', value: (entry) => entry.approver },
        { header: 'ACTION', value: (entry) => entry.action },
        { header: 'ENTITY', value: (entry) => `${entry.entityType}/${entry.entityKey}` },
        { header: 'VERSION', value: (entry) => entry.version },
      ]);
    });

  withFilters(audit.command('export').description('Stream entries, newest first, as NDJSON or CSV; each page is written before the next is read, and the cursor to resume from is printed if it stops'))
    .addOption(new Option('--format <format>', 'one JSON object per line, or CSV with a header').choices(['ndjson', 'csv']).default('ndjson'))
    .option('-f, --file <path>', 'write to this file (default: stdout)')
    .option('--cursor <cursor>', 'resume where an earlier export stopped (the cursor it printed)')
    .option('--page-size <n>', 'entries per request (1–200)', '200')
    .option('--max-pages <n>', 'stop after this many pages and print the cursor to resume from')
    .action(async (options: FilterOptions & { format: 'ndjson' | 'csv'; file?: string; cursor?: string; pageSize: string; maxPages?: string }) => {
      const pageSize = Number(options.pageSize);
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 200) throw usageError('--page-size takes a whole number from 1 to 200');
      const maxPages = options.maxPages === undefined ? Infinity : Number(options.maxPages);
      if (!(maxPages >= 1) || (maxPages !== Infinity && !Number.isInteger(maxPages))) throw usageError('--max-pages takes a whole number from 1');
      const since = options.since ? parseSince(options.since, Date.now()) : null;
      const output: Writable = options.file ? createWriteStream(options.file, { flags: options.cursor ? 'a' : 'w' }) : process.stdout;
      const terminal = session.terminal;
      if (options.format === 'csv' && !options.cursor) await write(output, `${CSV_COLUMNS.join(',')}\n`);
      let count = 0;
      let pages = 0;
      let resumeFrom: string | null = options.cursor ?? null;
      let interrupted = false;
      const onSigint = () => (interrupted = true);
      process.on('SIGINT', onSigint);
      try {
        for await (const page of session.client().pages<AuditEntry>('/v1/audit', { ...queryOf(options), limit: pageSize }, options.cursor)) {
          let reachedSince = false;
          let text = '';
          for (const entry of page.items) {
            if (since !== null && Date.parse(entry.at) < since) {
              reachedSince = true;
              break;
            }
            text += options.format === 'ndjson' ? `${JSON.stringify(entry)}\n` : `${CSV_COLUMNS.map((column) => csvField(entry[column])).join(',')}\n`;
            count++;
          }
          await write(output, text);
          pages++;
          resumeFrom = page.nextCursor;
          terminal.progress(`exported ${count} entries (${pages} pages)`);
          if (reachedSince || !page.nextCursor) {
            resumeFrom = null;
            break;
          }
          if (pages >= maxPages || interrupted) break;
        }
      } catch (error) {
        terminal.progress(null);
        if (resumeFrom) terminal.note(`stopped after ${count} entries; resume with --cursor ${resumeFrom}`);
        throw error;
      } finally {
        process.off('SIGINT', onSigint);
        if (output !== process.stdout) await new Promise<void>((resolve) => output.end(resolve));
      }
      terminal.progress(null);
      if (resumeFrom) {
        terminal.note(`exported ${count} entries; more remain: resume with --cursor ${resumeFrom}`);
        if (interrupted) session.exitCode = 130;
      } else {
        terminal.note(`exported ${count} entries`);
      }
    });

  audit
    .command('verify')
    .description('Check the audit log\'s hash chain, signatures and checkpoint on the server (exit 1 if anything is wrong)')
    .action(async () => {
      const result = await session.client().get<{ ok: boolean; entries: number; problems: { id: number; problem: string; message: string }[] }>('/v1/audit/verify');
      printResult(session.terminal, result as unknown as Record<string, unknown>);
      if (!result.ok) throw new CliError(`the audit log does not verify: ${result.problems.map((problem) => `entry ${problem.id}: ${problem.problem}`).join('; ')}`, EXIT.failure);
    });
}
