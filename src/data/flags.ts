import { findPrerequisiteCycle, type Flag, type FlagDefinition, type FlagType, type Prerequisite } from '@flagship/engine';
import { checkFlagReferences, validateFlag } from '@flagship/engine/validate';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { AppError, validationError } from '../errors.ts';
import { isDatabaseUnavailable } from './database-errors.ts';
import { tracedUpdate } from '../spans.ts';
import type { DatabasePool } from './pool.ts';
import type { Actor } from './actor.ts';
import { definitionOf } from '../domain/definition-of.ts';
import { sql } from './sql.ts';
import { appendAudit, appendEvent, inWriteTransaction, lockReferences, type WriteTransaction } from './write-transaction.ts';
import { prerequisiteCycleRefusals } from './write-metrics.ts';
import { assertNoRunningRollout } from './assert-no-running-rollout.ts';

/** A `flags` row as the data layer reads it; `toFlag` turns it into the engine's Flag. */
export const flagRow = z.object({
  key: z.string(),
  version: z.number(),
  state: z.enum(['active', 'archived']),
  definition: z.record(z.string(), z.unknown()),
  created_at: z.number(),
  updated_at: z.number(),
  created_by: z.string(),
  updated_by: z.string(),
});
type FlagRow = z.infer<typeof flagRow>;

export const FLAG_COLUMNS = sql.fragment`key, version, state, definition, created_at, updated_at, created_by, updated_by`;

export function toFlag(row: FlagRow): Flag {
  return {
    ...(row.definition as unknown as FlagDefinition),
    key: row.key,
    state: row.state,
    version: row.version,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    createdBy: row.created_by,
    updatedBy: row.updated_by,
  };
}

/** What the audit log records of a flag: its definition and state (version and metadata have columns). */
export function auditView(flag: Flag): Record<string, unknown> {
  const { version: _version, createdAt: _createdAt, updatedAt: _updatedAt, createdBy: _createdBy, updatedBy: _updatedBy, ...rest } = flag;
  return rest;
}

function searchText(definition: FlagDefinition): string {
  return [definition.key, definition.description, ...definition.tags].join(' ');
}

export async function getFlag(db: CommonQueryMethods, key: string): Promise<Flag | null> {
  const row = await db.maybeOne(sql.prepared('flag_by_key', flagRow)`SELECT ${FLAG_COLUMNS} FROM flags WHERE key = ${key}`);
  return row ? toFlag(row) : null;
}

/** The flags with these keys (archived ones too), in one query; keys without a flag are left out. */
export async function getFlags(db: CommonQueryMethods, keys: readonly string[]): Promise<Flag[]> {
  const rows = await db.any(sql.prepared('flags_by_keys', flagRow)`SELECT ${FLAG_COLUMNS} FROM flags WHERE key = ANY(${sql.array(keys, 'text')}) ORDER BY key`);
  return rows.map(toFlag);
}

/** Every active flag: what an API process compiles at start-up. */
export async function listActiveFlags(db: CommonQueryMethods): Promise<Flag[]> {
  const rows = await db.any(sql.type(flagRow)`SELECT ${FLAG_COLUMNS} FROM flags WHERE state = 'active' ORDER BY key`);
  return rows.map(toFlag);
}

export interface FlagListQuery {
  state?: 'active' | 'archived';
  type?: FlagType;
  tag?: string;
  prefix?: string;
  /** Substring search over key, description and tags. */
  q?: string;
  /** The flag's `owner`, without regard to case. */
  owner?: string;
  /** The last key of the previous page. */
  after?: string;
  limit: number;
}

function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/** A page of flags in key order; keyset pagination, so pages stay stable while flags are written. */
export async function listFlags(db: DatabasePool, query: FlagListQuery): Promise<{ items: Flag[]; nextAfter: string | null }> {
  const filters = [
    query.state ? sql.fragment`state = ${query.state}` : null,
    // No index: the key-ordered scan stops after a page, and a type shares a page among 10,000 flags soon enough.
    query.type ? sql.fragment`definition->>'type' = ${query.type}` : null,
    query.tag ? sql.fragment`tags @> ${sql.array([query.tag], 'text')}` : null,
    query.prefix ? sql.fragment`key LIKE ${`${likeEscape(query.prefix)}%`}` : null,
    query.q ? sql.fragment`search_text ILIKE ${`%${likeEscape(query.q)}%`}` : null,
    // No index, as for the type: an owner's flags are many among 10,000, so a page fills soon.
    query.owner ? sql.fragment`lower(definition->>'owner') = lower(${query.owner})` : null,
    query.after ? sql.fragment`key > ${query.after}` : null,
  ].filter((filter) => filter !== null);
  const where = filters.length ? sql.fragment`WHERE ${sql.join(filters, sql.fragment` AND `)}` : sql.fragment``;
  const rows = await db.any(sql.type(flagRow)`
    SELECT ${FLAG_COLUMNS} FROM flags ${where} ORDER BY key LIMIT ${query.limit + 1}`);
  const items = rows.slice(0, query.limit).map(toFlag);
  return { items, nextAfter: rows.length > query.limit ? (items.at(-1)?.key ?? null) : null };
}

const prerequisiteRow = z.object({ key: z.string(), state: z.enum(['active', 'archived']), prerequisites: z.array(z.unknown()) });

/**
 * Refuses a definition that refers to a missing or archived prerequisite flag or an unknown segment,
 * or that would close a prerequisite loop, judged on the committed state: under the exclusive write
 * lock, or, for a patch that changes its references, under the references lock (docs/write-path.md).
 */
export async function checkAgainstWorld(tx: WriteTransaction, definition: FlagDefinition): Promise<void> {
  const referencedFlags = definition.prerequisites.map((prerequisite) => prerequisite.flagKey);
  const referencedSegments = segmentKeysOf(definition);
  // A flag without prerequisites has no edge out, so it can close no loop and needs no graph; most
  // writes skip both queries.
  const rows = referencedFlags.length === 0 ? [] : await tx.any(sql.type(prerequisiteRow)`
    SELECT key, state, definition->'prerequisites' AS prerequisites FROM flags
    WHERE jsonb_array_length(definition->'prerequisites') > 0 OR key = ANY(${sql.array(referencedFlags, 'text')})`);
  const flags = new Map(
    rows.map((row) => [row.key, { key: row.key, state: row.state, prerequisites: row.prerequisites as Prerequisite[] }]),
  );
  const segments = new Set(
    referencedSegments.length === 0 ? [] : await tx.anyFirst(sql.type(z.object({ key: z.string() }))`
      SELECT key FROM segments WHERE key = ANY(${sql.array(referencedSegments, 'text')})`),
  );
  const issues = checkFlagReferences(definition, { flags, segments });
  if (issues.length) throw validationError('flag', issues);
  const cycle = findPrerequisiteCycle(flags, definition);
  if (cycle) {
    prerequisiteCycleRefusals.inc();
    throw new AppError('prerequisite_cycle', `the change would close a prerequisite loop: ${cycle.join(' → ')}`, { cycle });
  }
}

/** The flags and segments a definition refers to, as one comparable string. */
function referencesOf(definition: Pick<FlagDefinition, 'prerequisites' | 'rules'>): string {
  return JSON.stringify([definition.prerequisites.map((prerequisite) => prerequisite.flagKey).sort(), segmentKeysOf(definition).sort()]);
}

/** The segment keys a flag's rules refer to. */
function segmentKeysOf(definition: Pick<FlagDefinition, 'rules'>): string[] {
  const keys = new Set<string>();
  for (const rule of definition.rules) {
    for (const condition of rule.conditions) if ('segment' in condition) keys.add(condition.segment);
  }
  return [...keys];
}

function validated(input: unknown): FlagDefinition {
  const result = validateFlag(input);
  if (!result.ok) throw validationError('flag', result.issues);
  return result.value;
}

async function insertChange(
  tx: WriteTransaction,
  change: { action: 'flag.created' | 'flag.updated' | 'flag.rollout_progress' | 'flag.archived' | 'flag.restored'; actor: Actor; approver?: string; before: Flag | null; after: Flag },
): Promise<void> {
  await appendAudit(tx, {
    actor: change.actor,
    ...(change.approver ? { approver: change.approver } : {}),
    action: change.action,
    entityType: 'flag',
    entityKey: change.after.key,
    version: change.after.version,
    before: change.before ? auditView(change.before) : null,
    after: auditView(change.after),
  });
  await appendEvent(tx, {
    type: change.action,
    entityKey: change.after.key,
    payload: { flagKey: change.after.key, version: change.after.version, actor: change.actor.id, flag: change.after },
  });
}

export interface WriteOptions {
  actor: Actor;
  /** The id of the second person of an approved change; recorded beside the actor in the audit entry. */
  approver?: string;
}

/** Creates a flag at version 1. A key is never reused, archived flags included. */
export async function createFlag(db: DatabasePool, input: unknown, options: WriteOptions): Promise<Flag> {
  const definition = validated(input);
  return tracedUpdate(definition.key, 'create', () => inWriteTransaction(db, async (tx) => {
    const existing = await getFlag(tx, definition.key);
    if (existing) {
      throw new AppError('version_conflict', `flag "${definition.key}" already exists (version ${existing.version}, ${existing.state}); keys are never reused`, {
        currentVersion: existing.version,
        state: existing.state,
      });
    }
    await checkAgainstWorld(tx, definition);
    const row = await tx.one(sql.type(flagRow)`
      INSERT INTO flags (key, version, state, definition, description, tags, killswitch, high_impact, search_text, created_by, updated_by)
      VALUES (${definition.key}, 1, 'active', ${sql.jsonb(definition as unknown as object)}, ${definition.description},
              ${sql.array(definition.tags, 'text')}, ${definition.killswitch ?? null}, ${definition.highImpact},
              ${searchText(definition)}, ${options.actor.id}, ${options.actor.id})
      RETURNING ${FLAG_COLUMNS}`);
    const flag = toFlag(row);
    await insertChange(tx, { action: 'flag.created', actor: options.actor, ...(options.approver ? { approver: options.approver } : {}), before: null, after: flag });
    return flag;
  }));
}

async function currentAtVersion(db: CommonQueryMethods, key: string, expectedVersion: number | undefined): Promise<Flag> {
  const current = await getFlag(db, key);
  if (!current) throw new AppError('not_found', `flag "${key}" does not exist`);
  if (expectedVersion !== undefined && expectedVersion !== current.version) {
    throw new AppError('version_conflict', `flag "${key}" is at version ${current.version}, not ${expectedVersion}`, { currentVersion: current.version });
  }
  return current;
}

export interface PatchOptions extends WriteOptions {
  /** The event (and audit action) to record; rollout steps record `flag.rollout_progress`. */
  eventType?: 'flag.updated' | 'flag.rollout_progress';
  /** Called with the current flag and the validated next definition, before anything is written; throws to refuse. */
  guard?: (current: Flag, next: FlagDefinition, tx: WriteTransaction) => void | Promise<void>;
  /**
   * The caller's process holds the flag at the expected version (its live flag set), so the writer
   * is most likely current: `patchFlag` skips its early stale-writer read. Only a hint: the check
   * under the flag's lock decides either way.
   */
  heldAtExpectedVersion?: boolean;
}

/**
 * Applies a JSON merge patch (RFC 7386: a top-level `null` removes an optional field) to the
 * current definition, validates the result as a whole, and commits it as the next version. A patch
 * that changes nothing commits nothing and returns the flag unchanged.
 */
export async function patchFlag(
  db: DatabasePool,
  key: string,
  patch: Record<string, unknown>,
  expectedVersion: number,
  options: PatchOptions,
): Promise<Flag> {
  // A writer that is already stale is told so without queueing for the write lock; the check
  // under the lock in patchFlagIn is still the one that decides. When the database cannot be
  // reached, the write itself says so, and that nothing was committed. A writer the process
  // believes current skips the read: it would cost every uncontended write a round trip.
  return tracedUpdate(key, options.eventType === 'flag.rollout_progress' ? 'rollout_step' : 'patch', async () => {
    if (!options.heldAtExpectedVersion) {
      await currentAtVersion(db, key, expectedVersion).catch((error: unknown) => {
        if (!isDatabaseUnavailable(error)) throw error;
      });
    }
    // A patch changes this one flag: it runs beside writes to other flags, in order with this one's.
    return inWriteTransaction(db, (tx) => patchFlagIn(tx, key, patch, expectedVersion, options), { flagKey: key });
  });
}

/** `patchFlag` inside a write transaction the caller holds, so it can commit more in the same one. */
export async function patchFlagIn(
  tx: WriteTransaction,
  key: string,
  patch: Record<string, unknown>,
  expectedVersion: number,
  options: PatchOptions,
): Promise<Flag> {
  const prepared = await preparePatch(tx, key, patch, expectedVersion, options);
  if (!prepared.definition) return prepared.current;
  const { current, definition } = prepared;
  const row = await tx.one(sql.prepared('flag_patch', flagRow)`
    UPDATE flags SET version = version + 1, definition = ${sql.jsonb(definition as unknown as object)},
      description = ${definition.description}, tags = ${sql.array(definition.tags, 'text')},
      killswitch = ${definition.killswitch ?? null}, high_impact = ${definition.highImpact},
      search_text = ${searchText(definition)}, updated_at = now(), updated_by = ${options.actor.id}
    WHERE key = ${key} AND version = ${current.version}
    RETURNING ${FLAG_COLUMNS}`);
  const flag = toFlag(row);
  await insertChange(tx, { action: options.eventType ?? 'flag.updated', actor: options.actor, ...(options.approver ? { approver: options.approver } : {}), before: current, after: flag });
  return flag;
}

/**
 * Every check `patchFlagIn` makes, without writing: the flag at the expected version, the merged
 * definition valid, its references and prerequisites sound, a running rollout not fought. Returns
 * the current flag and the next definition (none when the patch changes nothing). A change request
 * runs it when filed, so a patch that could never apply is refused at once.
 */
export async function preparePatch(
  tx: WriteTransaction,
  key: string,
  patch: Record<string, unknown>,
  expectedVersion: number,
  options: Pick<PatchOptions, 'eventType' | 'guard'> = {},
): Promise<{ current: Flag; definition: FlagDefinition | null }> {
  assertPatchable(key, patch);
  const current = await currentAtVersion(tx, key, expectedVersion);
  if (current.state === 'archived') throw new AppError('validation_error', `flag "${key}" is archived; restore it before changing it`);
  const definition = mergePatch(definitionOf(current), patch);
  if (JSON.stringify(canonical(definitionOf(current))) === JSON.stringify(canonical(definition))) return { current, definition: null };
  await options.guard?.(current, definition, tx);
  // A running rollout plan owns the flag's rollout; its own steps are the only changes to it.
  if (options.eventType !== 'flag.rollout_progress' && JSON.stringify(canonical(current.rollout ?? null)) !== JSON.stringify(canonical(definition.rollout ?? null))) {
    await assertNoRunningRollout(tx, key);
  }
  if (referencesOf(current) !== referencesOf(definition)) await lockReferences(tx);
  await checkAgainstWorld(tx, definition);
  return { current, definition };
}

/** Refuses a patch that would change the key or a field the service owns. */
export function assertPatchable(key: string, patch: Record<string, unknown>): void {
  if ('key' in patch && patch.key !== key) throw new AppError('validation_error', 'a flag\'s key cannot change', { issues: [{ path: 'key', message: 'cannot change' }] });
  for (const owned of ['state', 'version', 'createdAt', 'updatedAt', 'createdBy', 'updatedBy']) {
    if (owned in patch) throw new AppError('validation_error', `"${owned}" is owned by the service and cannot be patched`, { issues: [{ path: owned, message: 'read-only' }] });
  }
}

/** A JSON merge patch applied to a definition (a top-level `null` removes the field), validated as a whole. */
export function mergePatch(definition: FlagDefinition, patch: Record<string, unknown>): FlagDefinition {
  const merged = { ...definition } as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(patch)) {
    if (value === null) delete merged[field];
    else merged[field] = value;
  }
  return validated(merged);
}

/** Key order does not make a change; compare documents with sorted keys. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

const dependentRow = z.object({ key: z.string() });

export interface StateOptions extends WriteOptions {
  /** Called with the current flag under the write lock, before anything is written; throws to refuse. */
  guard?: (current: Flag, tx: WriteTransaction) => void | Promise<void>;
}

/**
 * Archives or restores a flag as its next version. Archiving is refused while an active flag has it
 * as a prerequisite (the dependent would silently start failing); restoring re-checks its own
 * prerequisites, which may have been archived meanwhile.
 */
export async function setFlagState(
  db: DatabasePool,
  key: string,
  state: 'active' | 'archived',
  expectedVersion: number | undefined,
  options: StateOptions,
): Promise<Flag> {
  return tracedUpdate(key, state === 'archived' ? 'archive' : 'restore', () => inWriteTransaction(db, (tx) => setFlagStateIn(tx, key, state, expectedVersion, options)));
}

/** `setFlagState` inside a write transaction the caller holds. */
export async function setFlagStateIn(
  tx: WriteTransaction,
  key: string,
  state: 'active' | 'archived',
  expectedVersion: number | undefined,
  options: StateOptions,
): Promise<Flag> {
  const current = await prepareStateChange(tx, key, state, expectedVersion);
  await options.guard?.(current, tx);
  const row = await tx.one(sql.type(flagRow)`
    UPDATE flags SET version = version + 1, state = ${state}, updated_at = now(), updated_by = ${options.actor.id},
      archived_at = ${state === 'archived' ? sql.fragment`now()` : null}
    WHERE key = ${key} RETURNING ${FLAG_COLUMNS}`);
  const flag = toFlag(row);
  await insertChange(tx, {
    action: state === 'archived' ? 'flag.archived' : 'flag.restored',
    actor: options.actor,
    ...(options.approver ? { approver: options.approver } : {}),
    before: current,
    after: flag,
  });
  return flag;
}

/** Every check of an archive or restore, without writing; returns the current flag. */
export async function prepareStateChange(tx: WriteTransaction, key: string, state: 'active' | 'archived', expectedVersion: number | undefined): Promise<Flag> {
  const current = await currentAtVersion(tx, key, expectedVersion);
  if (current.state === state) {
    throw new AppError('validation_error', `flag "${key}" is already ${state}`);
  }
  if (state === 'archived') {
    const dependents = await tx.anyFirst(sql.type(dependentRow)`
      SELECT key FROM flags WHERE state = 'active' AND definition->'prerequisites' @> ${sql.jsonb([{ flagKey: key }])} ORDER BY key`);
    if (dependents.length) {
      throw new AppError('validation_error', `flag "${key}" is a prerequisite of ${dependents.join(', ')}; remove it from them first`, { dependents });
    }
  } else {
    await checkAgainstWorld(tx, current);
  }
  return current;
}
