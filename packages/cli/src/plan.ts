import type { ApiClient } from './api-client.ts';
import { byKey, canonical, compact, sameJson, type Definition, type FlagDocument, type Kind } from './flag-document.ts';

/** One field that a change sets, at leaf level where both sides have the same shape. */
export interface FieldChange {
  path: string;
  before?: unknown;
  after?: unknown;
}

export type Action = 'create' | 'update' | 'restore' | 'archive' | 'delete';

export interface PlannedChange {
  kind: Kind;
  key: string;
  action: Action;
  /** The server's version when planned; null for a create. Apply sends it as If-Match. */
  baseVersion: number | null;
  /** The change is to a high-impact flag (or sets or removes the mark): the service files a change request. */
  needsApproval: boolean;
  diff: FieldChange[];
}

export interface Plan {
  /** The deployment the plan was made against. */
  url: string;
  changes: PlannedChange[];
}

export interface ServerState {
  flags: Map<string, Definition & { version: number; state: string }>;
  segments: Map<string, Definition & { version: number }>;
}

export async function readServerState(client: ApiClient): Promise<ServerState> {
  const [flags, segments] = await Promise.all([
    client.all<Definition & { version: number; state: string }>('/v1/flags'),
    client.all<Definition & { version: number }>('/v1/segments'),
  ]);
  return { flags: new Map(flags.map((flag) => [flag.key, flag])), segments: new Map(segments.map((segment) => [segment.key, segment])) };
}

/**
 * What applying `document` would change on the server, field by field: creates and updates for
 * what the document defines, and with `prune` archives (flags) and deletes (segments) for what it
 * does not. An archived flag the document defines is restored (its key can never be reused).
 */
export function computePlan(document: FlagDocument, server: ServerState, options: { prune: boolean; url: string }): Plan {
  const changes: PlannedChange[] = [];
  for (const segment of document.segments) {
    const current = server.segments.get(segment.key);
    if (!current) {
      changes.push({ kind: 'segment', key: segment.key, action: 'create', baseVersion: null, needsApproval: false, diff: created('segment', segment) });
      continue;
    }
    const diff = diffDefinitions(canonical('segment', current), canonical('segment', segment));
    if (diff.length) changes.push({ kind: 'segment', key: segment.key, action: 'update', baseVersion: current.version, needsApproval: false, diff });
  }
  for (const flag of document.flags) {
    const current = server.flags.get(flag.key);
    const desired = canonical('flag', flag);
    if (!current) {
      changes.push({ kind: 'flag', key: flag.key, action: 'create', baseVersion: null, needsApproval: false, diff: created('flag', flag) });
      continue;
    }
    const diff = diffDefinitions(canonical('flag', current), desired);
    const needsApproval = current.highImpact === true || desired.highImpact !== current.highImpact;
    if (current.state === 'archived') changes.push({ kind: 'flag', key: flag.key, action: 'restore', baseVersion: current.version, needsApproval: current.highImpact === true, diff: [{ path: 'state', before: 'archived', after: 'active' }, ...diff] });
    else if (diff.length) changes.push({ kind: 'flag', key: flag.key, action: 'update', baseVersion: current.version, needsApproval, diff });
  }
  if (options.prune) {
    const wanted = new Set(document.flags.map((flag) => flag.key));
    for (const flag of [...server.flags.values()].sort(byKey)) {
      if (flag.state !== 'archived' && !wanted.has(flag.key)) changes.push({ kind: 'flag', key: flag.key, action: 'archive', baseVersion: flag.version, needsApproval: flag.highImpact === true, diff: [{ path: 'state', before: 'active', after: 'archived' }] });
    }
    const wantedSegments = new Set(document.segments.map((segment) => segment.key));
    for (const segment of [...server.segments.values()].sort(byKey)) {
      if (!wantedSegments.has(segment.key)) changes.push({ kind: 'segment', key: segment.key, action: 'delete', baseVersion: segment.version, needsApproval: false, diff: [] });
    }
  }
  return { url: options.url, changes };
}

/** A new definition's fields as the document gives them, defaults left out. */
function created(kind: Kind, definition: Definition): FieldChange[] {
  return Object.entries(compact(kind, definition)).map(([path, after]) => ({ path, after }));
}

/** Leaf-level differences: objects by key, lists element by element when their lengths agree. */
export function diffDefinitions(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (sameJson(before, after)) return [];
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => diffDefinitions(before[key], after[key], path ? `${path}.${key}` : key));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((item, index) => diffDefinitions(item, after[index], `${path}[${index}]`));
  }
  return [{ path, ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) }];
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The JSON merge patch (RFC 7396) that turns `before` into `after`: nested objects are patched key by
 * key (a key that goes away is null), anything else is replaced whole.
 */
export function mergePatch(before: unknown, after: unknown): unknown {
  if (!isPlainObject(before) || !isPlainObject(after)) return after;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) if (!sameJson(before[key], value)) patch[key] = mergePatch(before[key], value);
  return patch;
}

const SYMBOL: Record<Action, string> = { create: '+', update: '~', restore: '↺', archive: '-', delete: '-' };

/** The plan for people: one line per change, then one per field, before → after. */
export function describePlan(plan: Plan, style: (format: 'green' | 'red' | 'yellow' | 'bold' | 'dim', text: string) => string): string {
  if (plan.changes.length === 0) return 'No changes: the server matches the document.';
  const colour = { create: 'green', update: 'yellow', restore: 'green', archive: 'red', delete: 'red' } as const;
  const lines: string[] = [];
  for (const change of plan.changes) {
    const version = change.baseVersion === null ? '' : ` (version ${change.baseVersion})`;
    const approval = change.needsApproval ? style('bold', '  [high-impact: files a change request]') : '';
    lines.push(style(colour[change.action], `${SYMBOL[change.action]} ${change.action} ${change.kind} ${change.key}`) + version + approval);
    for (const field of change.diff) {
      const before = 'before' in field ? JSON.stringify(field.before) : '(none)';
      const after = 'after' in field ? JSON.stringify(field.after) : '(none)';
      lines.push(change.action === 'create' ? `    ${field.path}: ${after}` : `    ${field.path}: ${before} → ${after}`);
    }
  }
  const count = (action: Action) => plan.changes.filter((change) => change.action === action).length;
  lines.push('', `Plan: ${count('create')} to create, ${count('update') + count('restore')} to change, ${count('archive') + count('delete')} to remove.`);
  return lines.join('\n');
}
