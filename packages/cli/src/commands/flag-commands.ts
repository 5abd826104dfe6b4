import { Option, type Command } from 'commander';
import { usageError } from '../exit-codes.ts';
import { FLAG_FIELDS } from '../flag-document.ts';
import { printResult, type Column } from '../output.ts';
import type { Session } from '../session.ts';
import { assignments, collect, pathKey, readMapping, reportFiled } from './command-helpers.ts';

interface Flag {
  key: string;
  type: string;
  enabled: boolean;
  state: string;
  version: number;
  rollout?: { percentage?: number };
  tags: string[];
  highImpact: boolean;
  killswitch?: string;
  updatedAt: string;
}

const FLAG_COLUMNS: Column<Flag>[] = [
  { header: 'KEY', value: (flag) => flag.key },
  { header: 'TYPE', value: (flag) => flag.type },
  { header: 'STATE', value: (flag) => (flag.state === 'active' ? (flag.enabled ? 'on' : 'off') : flag.state) },
  { header: 'ROLLOUT', value: (flag) => (flag.rollout?.percentage === undefined ? (flag.rollout ? 'distribution' : null) : `${flag.rollout.percentage}%`) },
  { header: 'VERSION', value: (flag) => flag.version },
  { header: 'HIGH-IMPACT', value: (flag) => (flag.highImpact ? 'yes' : '') },
  { header: 'TAGS', value: (flag) => flag.tags.join(',') },
];

const METADATA_FIELDS = ['state', 'version', 'createdAt', 'createdBy', 'updatedAt', 'updatedBy'];

/** A flag's fields in the contract's order, then its metadata (the database keeps no order). */
function flagView(flag: Record<string, unknown>): Record<string, unknown> {
  const order = [...FLAG_FIELDS, ...METADATA_FIELDS];
  const rank = (key: string) => (order.includes(key) ? order.indexOf(key) : order.length);
  return Object.fromEntries(Object.entries(flag).sort(([a], [b]) => rank(a) - rank(b)));
}

function parseTyped(type: string, text: string): unknown {
  if (type === 'string') return text;
  if (type === 'boolean') {
    if (text !== 'true' && text !== 'false') throw usageError(`a boolean flag's value is true or false, not "${text}"`);
    return text === 'true';
  }
  if (type === 'number') {
    const number = Number(text);
    if (text.trim() === '' || !Number.isFinite(number)) throw usageError(`"${text}" is not a number`);
    return number;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw usageError(`a json flag's value must be JSON, not "${text}"`);
  }
}

/** `flags ls/get/create/edit/archive/restore`. */
export function registerFlagCommands(program: Command, session: Session): void {
  const flags = program.command('flags').description('List, read, create, change, archive and restore flags');

  flags
    .command('ls')
    .description('List flags in key order')
    .addOption(new Option('--state <state>', 'only active or archived flags').choices(['active', 'archived']))
    .option('--tag <tag>', 'only flags with this tag')
    .option('--prefix <prefix>', 'only flags whose key starts with this')
    .option('-q, --query <text>', 'substring of the key, description or a tag')
    .action(async (options: { state?: string; tag?: string; prefix?: string; query?: string }) => {
      const items = await session.client().all<Flag>('/v1/flags', { state: options.state, tag: options.tag, prefix: options.prefix, q: options.query });
      printResult(session.terminal, items, FLAG_COLUMNS);
    });

  flags
    .command('get <key>')
    .description('Read a flag (archived ones too)')
    .action(async (key: string) => {
      printResult(session.terminal, flagView(await session.client().get<Record<string, unknown>>(`/v1/flags/${pathKey(key)}`)));
    });

  flags
    .command('create <key>')
    .description('Create a flag from options, or from a definition file')
    .addOption(new Option('--type <type>', 'value type').choices(['boolean', 'string', 'number', 'json']))
    .option('--default <value>', 'the value served by default (typed by --type)')
    .option('--description <text>', 'what the flag is for')
    .option('--tag <tag>', 'a tag (repeat for more)', collect)
    .option('--killswitch <category>', 'the killswitch category that turns it off')
    .option('--high-impact', 'changes need a second person\'s approval')
    .option('--disabled', 'create it switched off')
    .option('-f, --file <path>', 'the whole definition as YAML or JSON (options above override its fields)')
    .action(async (key: string, options: { type?: string; default?: string; description?: string; tag?: string[]; killswitch?: string; highImpact?: boolean; disabled?: boolean; file?: string }) => {
      const base = options.file ? readMapping(options.file) : {};
      const type = options.type ?? (base.type as string | undefined) ?? 'boolean';
      const body: Record<string, unknown> = {
        ...base,
        key,
        type,
        ...(options.default !== undefined ? { defaultValue: parseTyped(type, options.default) } : base.defaultValue === undefined && type === 'boolean' ? { defaultValue: false } : {}),
        ...(options.description !== undefined ? { description: options.description } : {}),
        ...(options.tag ? { tags: options.tag } : {}),
        ...(options.killswitch ? { killswitch: options.killswitch } : {}),
        ...(options.highImpact ? { highImpact: true } : {}),
        ...(options.disabled ? { enabled: false } : {}),
      };
      if (body.defaultValue === undefined) throw usageError(`a ${type} flag needs --default`);
      const answer = await session.client().request<Record<string, unknown>>('POST', '/v1/flags', { body });
      printResult(session.terminal, flagView(answer.body));
    });

  flags
    .command('edit <key>')
    .description('Change a flag with a JSON merge patch: --set path=value, --unset field, or a patch file')
    .option('--set <path=value>', 'set a field (dotted paths for nested ones; the value is JSON or text); repeat for more', collect)
    .option('--unset <field>', 'remove an optional field (rollout, killswitch, …); repeat for more', collect)
    .option('--enable', 'switch the flag on')
    .option('--disable', 'switch the flag off')
    .option('-f, --file <path>', 'a merge patch as YAML or JSON')
    .option('--if-match <version>', 'the version the change is made to (default: the current one, read first)')
    .option('--reason <text>', 'for a high-impact flag: why, for the approver')
    .action(async (key: string, options: { set?: string[]; unset?: string[]; enable?: boolean; disable?: boolean; file?: string; ifMatch?: string; reason?: string }) => {
      if (options.enable && options.disable) throw usageError('give --enable or --disable, not both');
      const patch: Record<string, unknown> = {
        ...(options.file ? readMapping(options.file) : {}),
        ...assignments(options.set ?? [], '--set'),
        ...Object.fromEntries((options.unset ?? []).map((field) => [field, null])),
        ...(options.enable ? { enabled: true } : options.disable ? { enabled: false } : {}),
      };
      if (Object.keys(patch).length === 0) throw usageError('nothing to change: give --set, --unset, --enable, --disable or --file');
      const client = session.client();
      const version = options.ifMatch ?? String((await client.get<Flag>(`/v1/flags/${pathKey(key)}`)).version);
      if (!/^\d+$/.test(version)) throw usageError(`--if-match takes a whole number, not "${version}"`);
      const answer = await client.request<Record<string, unknown>>('PATCH', `/v1/flags/${pathKey(key)}`, {
        body: { ...patch, ...(options.reason ? { approval: { reason: options.reason } } : {}) },
        headers: { 'if-match': `"${version}"`, 'content-type': 'application/merge-patch+json' },
      });
      if (!reportFiled(session, answer)) printResult(session.terminal, flagView(answer.body));
    });

  for (const action of ['archive', 'restore'] as const) {
    flags
      .command(`${action} <key>`)
      .description(action === 'archive' ? 'Archive a flag: it stops evaluating; its key stays taken' : 'Restore an archived flag')
      .option('--reason <text>', 'for a high-impact flag: why, for the approver')
      .action(async (key: string, options: { reason?: string }) => {
        const answer = await session.client().request<Record<string, unknown>>('POST', `/v1/flags/${pathKey(key)}/${action}`, {
          body: options.reason ? { approval: { reason: options.reason } } : {},
        });
        if (!reportFiled(session, answer)) printResult(session.terminal, flagView(answer.body));
      });
  }
}
