import { compileFlagSet, type Flag, type Segment, type SegmentDefinition } from '@flagship/engine';
import { validateSegment } from '@flagship/engine/validate';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { AppError, validationError } from '../errors.ts';
import { FLAG_COLUMNS, flagRow, toFlag } from './flags.ts';
import type { DatabasePool } from './pool.ts';
import type { Actor } from './actor.ts';
import { sql } from './sql.ts';
import { appendAudit, appendEvent, inWriteTransaction, type WriteTransaction } from './write-transaction.ts';

export interface StoredSegment extends SegmentDefinition {
  version: number;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  updatedBy: string;
}

const segmentRow = z.object({
  key: z.string(),
  version: z.number(),
  definition: z.record(z.string(), z.unknown()),
  created_at: z.number(),
  updated_at: z.number(),
  created_by: z.string(),
  updated_by: z.string(),
});
type SegmentRow = z.infer<typeof segmentRow>;
const SEGMENT_COLUMNS = sql.fragment`key, version, definition, created_at, updated_at, created_by, updated_by`;

function toSegment(row: SegmentRow): StoredSegment {
  return {
    ...(row.definition as unknown as SegmentDefinition),
    key: row.key,
    version: row.version,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    createdBy: row.created_by,
    updatedBy: row.updated_by,
  };
}

/** A stored segment's definition: what the engine compiles. */
export function segmentDefinition(segment: StoredSegment): SegmentDefinition {
  return { key: segment.key, name: segment.name, description: segment.description, conditions: segment.conditions };
}

export async function getSegment(db: CommonQueryMethods, key: string): Promise<StoredSegment | null> {
  const row = await db.maybeOne(sql.type(segmentRow)`SELECT ${SEGMENT_COLUMNS} FROM segments WHERE key = ${key}`);
  return row ? toSegment(row) : null;
}

export async function listSegments(db: DatabasePool, query: { after?: string; limit: number }): Promise<{ items: StoredSegment[]; nextAfter: string | null }> {
  const rows = await db.any(sql.type(segmentRow)`
    SELECT ${SEGMENT_COLUMNS} FROM segments ${query.after ? sql.fragment`WHERE key > ${query.after}` : sql.fragment``}
    ORDER BY key LIMIT ${query.limit + 1}`);
  const items = rows.slice(0, query.limit).map(toSegment);
  return { items, nextAfter: rows.length > query.limit ? (items.at(-1)?.key ?? null) : null };
}

/** Every segment: what an API process compiles at start-up. */
export async function listAllSegments(db: CommonQueryMethods): Promise<Segment[]> {
  const rows = await db.any(sql.type(segmentRow)`SELECT ${SEGMENT_COLUMNS} FROM segments ORDER BY key`);
  return rows.map((row) => segmentDefinition(toSegment(row)));
}

/** Flags (active or archived) whose rules refer to the segment. */
async function flagsUsing(tx: WriteTransaction, segmentKey: string) {
  const rows = await tx.any(sql.type(flagRow)`
    SELECT ${FLAG_COLUMNS} FROM flags
    WHERE jsonb_path_exists(definition, '$.rules[*].conditions[*] ? (@.segment == $key)', ${sql.jsonb({ key: segmentKey })})
    ORDER BY key`);
  return rows.map(toFlag);
}

function validated(input: unknown): SegmentDefinition {
  const result = validateSegment(input);
  if (!result.ok) throw validationError('segment', result.issues);
  return result.value;
}

async function recordChange(
  tx: WriteTransaction,
  change: { action: 'segment.created' | 'segment.updated' | 'segment.deleted'; actor: Actor; approver?: string; key: string; version: number; before: SegmentDefinition | null; after: SegmentDefinition | null; affectedFlags: string[] },
): Promise<void> {
  await appendAudit(tx, { actor: change.actor, ...(change.approver ? { approver: change.approver } : {}), action: change.action, entityType: 'segment', entityKey: change.key, version: change.version, before: change.before, after: change.after });
  await appendEvent(tx, {
    type: change.action,
    entityKey: change.key,
    payload: { segmentKey: change.key, version: change.version, actor: change.actor.id, segment: change.after, affectedFlags: change.affectedFlags },
  });
}

export async function createSegment(db: DatabasePool, input: unknown, actor: Actor): Promise<StoredSegment> {
  const definition = validated(input);
  return inWriteTransaction(db, async (tx) => {
    const existing = await getSegment(tx, definition.key);
    if (existing) throw new AppError('version_conflict', `segment "${definition.key}" already exists (version ${existing.version})`, { currentVersion: existing.version });
    const row = await tx.one(sql.type(segmentRow)`
      INSERT INTO segments (key, version, definition, created_by, updated_by)
      VALUES (${definition.key}, 1, ${sql.jsonb(definition as unknown as object)}, ${actor.id}, ${actor.id})
      RETURNING ${SEGMENT_COLUMNS}`);
    await recordChange(tx, { action: 'segment.created', actor, key: definition.key, version: 1, before: null, after: definition, affectedFlags: [] });
    return toSegment(row);
  });
}

export interface SegmentPatchOptions {
  actor: Actor;
  /** The id of the second person of an approved change request; recorded beside the actor. */
  approver?: string;
  /** Called under the write lock with the current segment and the flags using it, before anything is written; throws to refuse. */
  guard?: (current: StoredSegment, users: readonly Flag[], tx: WriteTransaction) => void | Promise<void>;
}

/**
 * Applies a merge patch to a segment as its next version, after re-checking that every flag using
 * it still compiles with the new conditions; the event names the flags whose answers may change.
 */
export async function patchSegment(db: DatabasePool, key: string, patch: Record<string, unknown>, expectedVersion: number, options: SegmentPatchOptions): Promise<StoredSegment> {
  return inWriteTransaction(db, (tx) => patchSegmentIn(tx, key, patch, expectedVersion, options));
}

/** `patchSegment` inside a write transaction the caller holds (an approved change request's). */
export async function patchSegmentIn(tx: WriteTransaction, key: string, patch: Record<string, unknown>, expectedVersion: number, options: SegmentPatchOptions): Promise<StoredSegment> {
  const { current, definition, users } = await prepareSegmentPatch(tx, key, patch, expectedVersion);
  if (!definition) return current;
  await options.guard?.(current, users, tx);
  const row = await tx.one(sql.type(segmentRow)`
    UPDATE segments SET version = version + 1, definition = ${sql.jsonb(definition as unknown as object)}, updated_at = now(), updated_by = ${options.actor.id}
    WHERE key = ${key} RETURNING ${SEGMENT_COLUMNS}`);
  const segment = toSegment(row);
  await recordChange(tx, {
    action: 'segment.updated',
    actor: options.actor,
    ...(options.approver ? { approver: options.approver } : {}),
    key,
    version: segment.version,
    before: segmentDefinition(current),
    after: definition,
    affectedFlags: users.map((flag) => flag.key),
  });
  return segment;
}

/**
 * Every check of a segment patch, without writing: the segment at the expected version, the merged
 * definition valid, every active flag using it still compiling. Returns the current segment, the
 * next definition (none when the patch changes nothing) and the flags using it. A change request
 * runs it when filed, so a patch that could never apply is refused at once.
 */
export async function prepareSegmentPatch(
  tx: WriteTransaction,
  key: string,
  patch: Record<string, unknown>,
  expectedVersion: number,
): Promise<{ current: StoredSegment; definition: SegmentDefinition | null; users: Flag[] }> {
  if ('key' in patch && patch.key !== key) throw new AppError('validation_error', 'a segment\'s key cannot change', { issues: [{ path: 'key', message: 'cannot change' }] });
  const current = await getSegment(tx, key);
  if (!current) throw new AppError('not_found', `segment "${key}" does not exist`);
  if (current.version !== expectedVersion) {
    throw new AppError('version_conflict', `segment "${key}" is at version ${current.version}, not ${expectedVersion}`, { currentVersion: current.version });
  }
  const merged: Record<string, unknown> = { ...segmentDefinition(current) };
  for (const [field, value] of Object.entries(patch)) {
    if (value === null) delete merged[field];
    else merged[field] = value;
  }
  const definition = validated(merged);
  if (JSON.stringify(definition) === JSON.stringify(segmentDefinition(current))) return { current, definition: null, users: [] };
  const users = await flagsUsing(tx, key);
  try {
    const otherSegments = (await listAllSegments(tx)).filter((segment) => segment.key !== key);
    compileFlagSet({ flags: users.filter((flag) => flag.state === 'active'), segments: [...otherSegments, definition] });
  } catch (error) {
    throw new AppError('validation_error', `the changed segment breaks a flag that uses it: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { current, definition, users };
}

/** Deletes a segment no flag refers to (archived flags included: restoring them would need it). */
export async function deleteSegment(db: DatabasePool, key: string, expectedVersion: number | undefined, actor: Actor): Promise<void> {
  await inWriteTransaction(db, async (tx) => {
    const current = await getSegment(tx, key);
    if (!current) throw new AppError('not_found', `segment "${key}" does not exist`);
    if (expectedVersion !== undefined && current.version !== expectedVersion) {
      throw new AppError('version_conflict', `segment "${key}" is at version ${current.version}, not ${expectedVersion}`, { currentVersion: current.version });
    }
    const users = await flagsUsing(tx, key);
    if (users.length) {
      const keys = users.map((flag) => flag.key);
      throw new AppError('validation_error', `segment "${key}" is used by ${keys.join(', ')}; remove it from them first`, { flags: keys });
    }
    await tx.query(sql.typeAlias('void')`DELETE FROM segments WHERE key = ${key}`);
    await recordChange(tx, { action: 'segment.deleted', actor, key, version: current.version, before: segmentDefinition(current), after: null, affectedFlags: [] });
  });
}
