import { filedChange, type ApiClient, type FiledChange } from './api-client.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { canonical, sameJson, type Definition, type FlagDocument } from './flag-document.ts';
import { mergePatch, type Plan, type PlannedChange, type ServerState } from './plan.ts';

/** Fields a flag may lack altogether (no default value stands in): a patch removes them with null. */
const REMOVABLE_FLAG_FIELDS = new Set(['onValue', 'offValue', 'rollout', 'killswitch']);

export interface AppliedChange {
  kind: PlannedChange['kind'];
  key: string;
  action: PlannedChange['action'];
  outcome: 'applied' | 'approval_pending';
  version?: number;
  changeRequest?: Pick<FiledChange, 'id' | 'kind' | 'expiresAt'>;
}

/**
 * Refuses to apply when the server moved since `saved` was planned: every change must still have
 * the same base version and the same fields, and no new change may have appeared (someone edited a
 * flag the document also defines). Nothing is written then.
 */
export function checkSavedPlan(saved: Plan, fresh: Plan): void {
  const id = (change: PlannedChange) => `${change.kind} ${change.key}`;
  const savedById = new Map(saved.changes.map((change) => [id(change), change]));
  const problems: string[] = [];
  for (const change of fresh.changes) {
    const before = savedById.get(id(change));
    savedById.delete(id(change));
    if (!before) problems.push(`${id(change)} changed on the server since the plan (now version ${change.baseVersion ?? 'none'})`);
    else if (before.baseVersion !== change.baseVersion) problems.push(`${id(change)} is at version ${change.baseVersion ?? 'none'}, the plan was made against version ${before.baseVersion ?? 'none'}`);
    else if (before.action !== change.action || !sameJson(before.diff, change.diff)) problems.push(`${id(change)}: the document or the server changed since the plan`);
  }
  for (const gone of savedById.keys()) problems.push(`${gone} changed on the server since the plan (the planned change is no longer needed)`);
  if (problems.length) throw new CliError(`the server changed since the plan; nothing was applied: ${problems.join('; ')}. Run plan again.`, EXIT.conflict);
}

/**
 * Applies a plan in an order the service accepts: segments before the flags that use them, new
 * flags after their prerequisites, archives and segment deletions last. Every write carries the
 * planned version (If-Match), so a change made on the server in between is a conflict, not an
 * overwrite. A high-impact flag's change is filed as a change request and reported as such.
 */
export async function applyPlan(client: ApiClient, plan: Plan, document: FlagDocument, server: ServerState, options: { approvalReason?: string; onApplied?: (applied: AppliedChange) => void }): Promise<AppliedChange[]> {
  const desired = {
    flag: new Map(document.flags.map((flag) => [flag.key, flag])),
    segment: new Map(document.segments.map((segment) => [segment.key, segment])),
  };
  const approval = options.approvalReason ? { approval: { reason: options.approvalReason } } : {};
  const results: AppliedChange[] = [];
  const record = (applied: AppliedChange) => {
    results.push(applied);
    options.onApplied?.(applied);
  };
  const ifMatch = (version: number | null): Record<string, string> => (version === null ? {} : { 'if-match': `"${version}"` });
  const pending = (change: PlannedChange, answer: Awaited<ReturnType<ApiClient['request']>>): boolean => {
    const filed = filedChange(answer);
    if (!filed) return false;
    record({ kind: change.kind, key: change.key, action: change.action, outcome: 'approval_pending', changeRequest: { id: filed.id, kind: filed.kind, expiresAt: filed.expiresAt } });
    return true;
  };

  const ordered = [
    ...plan.changes.filter((change) => change.kind === 'segment' && (change.action === 'create' || change.action === 'update')),
    ...plan.changes.filter((change) => change.kind === 'flag' && change.action === 'restore'),
    ...prerequisitesFirst(plan.changes.filter((change) => change.kind === 'flag' && change.action === 'create'), desired.flag),
    ...plan.changes.filter((change) => change.kind === 'flag' && change.action === 'update'),
    ...plan.changes.filter((change) => change.kind === 'flag' && change.action === 'archive'),
    ...plan.changes.filter((change) => change.kind === 'segment' && change.action === 'delete'),
  ];
  for (const change of ordered) {
    const path = `/v1/${change.kind === 'flag' ? 'flags' : 'segments'}`;
    const definition = desired[change.kind].get(change.key);
    if (change.action === 'create') {
      const answer = await client.request<{ version: number }>('POST', path, { body: definition });
      record({ kind: change.kind, key: change.key, action: change.action, outcome: 'applied', version: answer.body.version });
      continue;
    }
    if (change.action === 'delete') {
      await client.request('DELETE', `${path}/${encodeURIComponent(change.key)}`, { headers: ifMatch(change.baseVersion) });
      record({ kind: change.kind, key: change.key, action: change.action, outcome: 'applied' });
      continue;
    }
    let version = change.baseVersion;
    if (change.action === 'archive' || change.action === 'restore') {
      const verb = change.action;
      const answer = await client.request<{ version: number }>('POST', `${path}/${encodeURIComponent(change.key)}/${verb}`, { body: { version, ...approval } });
      if (pending(change, answer)) continue;
      version = answer.body.version;
      if (change.action === 'archive' || change.diff.length === 1) {
        record({ kind: change.kind, key: change.key, action: change.action, outcome: 'applied', version });
        continue;
      }
    }
    const current = change.kind === 'flag' ? server.flags.get(change.key) : server.segments.get(change.key);
    if (!current || !definition) throw new Error(`planned ${change.action} of ${change.kind} ${change.key} without its definitions`);
    const patch = definitionPatch(change.kind, current, definition);
    const answer = await client.request<{ version: number }>('PATCH', `${path}/${encodeURIComponent(change.key)}`, {
      body: { ...patch, ...(change.kind === 'flag' ? approval : {}) },
      headers: { ...ifMatch(version), 'content-type': 'application/merge-patch+json' },
    });
    if (pending(change, answer)) continue;
    record({ kind: change.kind, key: change.key, action: change.action, outcome: 'applied', version: answer.body.version });
  }
  return results;
}

/** The merge patch that makes the server's definition the document's, top-level field by field. */
export function definitionPatch(kind: 'flag' | 'segment', current: Record<string, unknown>, wanted: Definition): Record<string, unknown> {
  const before = canonical(kind, current);
  const after = canonical(kind, wanted);
  const patch: Record<string, unknown> = {};
  for (const field of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (field === 'key' || sameJson(before[field], after[field])) continue;
    if (wanted[field] === undefined && kind === 'flag' && REMOVABLE_FLAG_FIELDS.has(field)) patch[field] = null;
    else patch[field] = mergePatch(current[field], after[field]);
  }
  return patch;
}

function prerequisitesFirst(creates: PlannedChange[], definitions: Map<string, Definition>): PlannedChange[] {
  const remaining = new Map(creates.map((change) => [change.key, change]));
  const ordered: PlannedChange[] = [];
  while (remaining.size) {
    const ready = [...remaining.values()].filter((change) => {
      const prerequisites = (definitions.get(change.key)?.prerequisites ?? []) as { flagKey?: string }[];
      return prerequisites.every((prerequisite) => !prerequisite.flagKey || !remaining.has(prerequisite.flagKey) || prerequisite.flagKey === change.key);
    });
    // A loop among new flags: create them in key order and let the service name the cycle.
    const next = ready.length ? ready : [...remaining.values()];
    for (const change of next) {
      ordered.push(change);
      remaining.delete(change.key);
    }
  }
  return ordered;
}
