import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CliError } from './exit-codes.ts';

/** What a flags-as-code document says: flags and segments as definitions, without server metadata. */
export interface FlagDocument {
  segments: Definition[];
  flags: Definition[];
}

export type Definition = Record<string, unknown> & { key: string };

export const DOCUMENT_VERSION = 'flagship/v1';

/** A flag's definition fields in the contract's order: documents always list them in this order. */
export const FLAG_FIELDS = ['key', 'type', 'description', 'tags', 'enabled', 'onValue', 'offValue', 'defaultValue', 'variants', 'allowlist', 'denylist', 'prerequisites', 'rules', 'rollout', 'killswitch', 'highImpact'] as const;
export const SEGMENT_FIELDS = ['key', 'name', 'description', 'conditions'] as const;

/**
 * The values the service gives a field a definition leaves out. A document leaves them out too, and
 * the plan compares definitions with them filled in, so a hand-written file without `tags: []` is
 * not a change.
 */
function flagDefaults(flag: Record<string, unknown>): Record<string, unknown> {
  return {
    description: '', tags: [], enabled: true, variants: {}, allowlist: [], denylist: [], prerequisites: [], rules: [], highImpact: false,
    ...(flag.type === 'boolean' ? { onValue: true } : {}),
    offValue: flag.defaultValue,
  };
}

const SEGMENT_DEFAULTS: Record<string, unknown> = { description: '' };

export type Kind = 'flag' | 'segment';

/** The definition with every default filled in and the fields in document order: what plans compare. */
export function canonical(kind: Kind, definition: Record<string, unknown>): Definition {
  const defaults = kind === 'flag' ? flagDefaults(definition) : SEGMENT_DEFAULTS;
  const fields = kind === 'flag' ? FLAG_FIELDS : SEGMENT_FIELDS;
  const result: Record<string, unknown> = {};
  for (const field of fields) {
    const value = definition[field] ?? defaults[field];
    if (value !== undefined) result[field] = value;
  }
  return result as Definition;
}

/** Nested keys in the order people read a rule or condition in; other keys follow alphabetically. */
const NESTED_KEY_ORDER = ['id', 'key', 'flagKey', 'attribute', 'segment', 'op', 'value', 'variant', 'weight', 'percentage', 'distribution', 'min', 'max', 'bucketBy', 'negate', 'conditions', 'serve'];

function rank(key: string): number {
  const index = NESTED_KEY_ORDER.indexOf(key);
  return index === -1 ? NESTED_KEY_ORDER.length : index;
}

/** The same value with the keys of every nested object in a stable order (the database keeps none). */
export function stableOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stableOrder);
  if (!value || typeof value !== 'object') return value;
  const keys = Object.keys(value).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((key) => [key, stableOrder((value as Record<string, unknown>)[key])]));
}

/** The definition as a document writes it: document order, server metadata and default values left out. */
export function compact(kind: Kind, definition: Record<string, unknown>): Definition {
  const defaults = kind === 'flag' ? flagDefaults(definition) : SEGMENT_DEFAULTS;
  const full = canonical(kind, definition);
  const result: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(full)) {
    if (field !== 'key' && defaults[field] !== undefined && sameJson(defaults[field], value)) continue;
    result[field] = stableOrder(value);
  }
  return result as Definition;
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]));
  return value;
}

export type DocumentFormat = 'yaml' | 'json';

export function serialize(document: FlagDocument, format: DocumentFormat): string {
  const body = { apiVersion: DOCUMENT_VERSION, ...(document.segments.length ? { segments: document.segments } : {}), ...(document.flags.length ? { flags: document.flags } : {}) };
  return format === 'json' ? `${JSON.stringify(body, null, 2)}\n` : stringify(body, { lineWidth: 0 });
}

/**
 * Writes the document as one file, or with `split` as one file per flag and segment
 * (`flags/<key>.yaml`, `segments/<key>.yaml`) under a folder, so each lives in git on its own.
 */
export function writeDocument(document: FlagDocument, target: string, options: { format: DocumentFormat; split: boolean }): string[] {
  if (!options.split) {
    writeFileSync(target, serialize(document, options.format));
    return [target];
  }
  const written: string[] = [];
  for (const [folder, items, kind] of [['segments', document.segments, 'segments'], ['flags', document.flags, 'flags']] as const) {
    if (items.length === 0) continue;
    mkdirSync(join(target, folder), { recursive: true });
    for (const item of items) {
      const path = join(target, folder, `${item.key}.${options.format}`);
      writeFileSync(path, serialize({ segments: [], flags: [], [kind]: [item] }, options.format));
      written.push(path);
    }
  }
  return written;
}

/** Reads a document from a file, or every .yaml, .yml and .json file under a folder, as one document. */
export function readDocument(source: string): FlagDocument {
  if (!existsSync(source)) throw new CliError(`${source} does not exist`);
  const files = statSync(source).isDirectory() ? documentFiles(source) : [source];
  if (files.length === 0) throw new CliError(`no .yaml, .yml or .json files in ${source}`);
  const merged: FlagDocument = { segments: [], flags: [] };
  const seen = new Map<string, string>();
  for (const file of files) {
    const part = parseDocument(readFileSync(file, 'utf8'), file);
    for (const [kind, items] of [['segment', part.segments], ['flag', part.flags]] as const) {
      for (const item of items) {
        const id = `${kind} ${item.key}`;
        const earlier = seen.get(id);
        if (earlier) throw new CliError(`${id} is defined twice: in ${earlier} and in ${file}`);
        seen.set(id, file);
      }
    }
    merged.segments.push(...part.segments);
    merged.flags.push(...part.flags);
  }
  merged.segments.sort(byKey);
  merged.flags.sort(byKey);
  return merged;
}

function documentFiles(folder: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...documentFiles(path));
    else if (['.yaml', '.yml', '.json'].includes(extname(entry.name))) files.push(path);
  }
  return files;
}

export function parseDocument(text: string, name: string): FlagDocument {
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new CliError(`${name}: not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError(`${name}: a document is a mapping with "flags" and "segments"`);
  const { apiVersion, flags = [], segments = [], ...rest } = parsed as Record<string, unknown>;
  if (apiVersion !== undefined && apiVersion !== DOCUMENT_VERSION) throw new CliError(`${name}: apiVersion "${String(apiVersion)}" is not ${DOCUMENT_VERSION}`);
  const unknown = Object.keys(rest);
  if (unknown.length) throw new CliError(`${name}: unknown top-level field ${unknown.map((field) => `"${field}"`).join(', ')} (a document has apiVersion, segments and flags)`);
  return { flags: definitions(flags, 'flags', name), segments: definitions(segments, 'segments', name) };
}

function definitions(value: unknown, field: string, name: string): Definition[] {
  if (!Array.isArray(value)) throw new CliError(`${name}: "${field}" must be a list`);
  return value.map((item, index) => {
    if (!item || typeof item !== 'object' || Array.isArray(item) || typeof (item as { key?: unknown }).key !== 'string') {
      throw new CliError(`${name}: ${field}[${index}] must be a mapping with a "key"`);
    }
    return item as Definition;
  });
}

export function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
