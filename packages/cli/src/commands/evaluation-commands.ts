import type { Command } from 'commander';
import { usageError } from '../exit-codes.ts';
import { printResult } from '../output.ts';
import type { Session } from '../session.ts';
import { assignments, collect, readMapping } from './command-helpers.ts';

interface ContextOptions {
  context?: string;
  contextFile?: string;
  attr?: string[];
}

/** The evaluation context from --context JSON, --context-file, and --attr path=value pairs (later ones win). */
function contextOf(options: ContextOptions): Record<string, unknown> {
  let context: Record<string, unknown> = {};
  if (options.contextFile) context = readMapping(options.contextFile);
  if (options.context) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(options.context);
    } catch {
      throw usageError('--context takes a JSON object, e.g. \'{"userId": "u-1"}\'');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw usageError('--context takes a JSON object');
    context = { ...context, ...(parsed as Record<string, unknown>) };
  }
  return { ...context, ...assignments(options.attr ?? [], '--attr') };
}

function withContextOptions(command: Command): Command {
  return command
    .option('-c, --context <json>', 'the context as a JSON object')
    .option('--context-file <path>', 'the context as a YAML or JSON file')
    .option('-a, --attr <path=value>', 'one attribute (repeat for more): userId=u-1, project.tier=gold', collect);
}

/** `eval` and `explain`: what a flag serves a context, and why. */
export function registerEvaluationCommands(program: Command, session: Session): void {
  withContextOptions(program.command('eval <flagKey>').description('Evaluate a flag for a context (or every flag with --all)'))
    .option('--all', 'evaluate every active flag (the flag key is then a filter: "-" for none)')
    .action(async (flagKey: string, options: ContextOptions & { all?: boolean }) => {
      const client = session.client();
      const context = contextOf(options);
      if (options.all) {
        const answer = await client.request<{ results: unknown[] }>('POST', '/v1/evaluate/bulk', { body: { context, ...(flagKey === '-' ? {} : { flagKeys: flagKey.split(',') }) } });
        printResult(session.terminal, answer.body.results);
        return;
      }
      const answer = await client.request<Record<string, unknown>>('POST', '/v1/evaluate', { body: { flagKey, context } });
      printResult(session.terminal, answer.body);
    });

  withContextOptions(program.command('explain <flagKey>').description('Explain an evaluation step by step: each rule and condition, the bucket and threshold'))
    .action(async (flagKey: string, options: ContextOptions) => {
      const answer = await session.client().request<Record<string, unknown>>('POST', '/v1/explain', { body: { flagKey, context: contextOf(options) } });
      // The steps are a tree: a table would flatten it, so the default view is YAML.
      if (session.terminal.format === 'table') printResult({ ...session.terminal, format: 'yaml' }, answer.body);
      else printResult(session.terminal, answer.body);
    });
}
