import type { Context } from 'koa';
import { AppError } from '../errors.ts';
import { textProblem } from './checked-text.ts';

/** A resource's ETag is its version, quoted: `"7"`. */
export function etagFor(version: number): string {
  return `"${version}"`;
}

/** Reads `"7"`, `W/"7"` or `7` from If-Match; undefined when absent. */
function ifMatchVersion(ctx: Context): number | undefined {
  const header = ctx.get('if-match');
  if (!header) return undefined;
  const match = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
  if (!match?.[1]) throw new AppError('validation_error', `If-Match must be a version ETag like "7", got ${header}`, { issues: [{ path: 'If-Match', message: 'not a version' }] });
  return Number(match[1]);
}

/**
 * The version a write is based on, from If-Match or the body's `version`; they must agree when both
 * are given. Returns undefined when neither is.
 */
export function expectedVersion(ctx: Context, bodyVersion: unknown): number | undefined {
  if (bodyVersion !== undefined && (typeof bodyVersion !== 'number' || !Number.isInteger(bodyVersion) || bodyVersion < 1)) {
    throw new AppError('validation_error', 'version must be a whole number from 1', { issues: [{ path: 'version', message: 'must be a whole number from 1' }] });
  }
  const header = ifMatchVersion(ctx);
  if (header !== undefined && bodyVersion !== undefined && header !== bodyVersion) {
    throw new AppError('validation_error', `If-Match (${header}) and version (${bodyVersion}) disagree`, { issues: [{ path: 'version', message: 'disagrees with If-Match' }] });
  }
  return header ?? bodyVersion;
}

/** For writes that must name their base version (PATCH): missing is a version_conflict, as the contract says. */
export function requiredVersion(ctx: Context, bodyVersion: unknown): number {
  const version = expectedVersion(ctx, bodyVersion);
  if (version === undefined) throw new AppError('version_conflict', 'give the version you are changing, as If-Match: "<version>" or "version" in the body');
  return version;
}

/** Opaque pagination cursors: the caller passes back what it was given. */
export function encodeCursor(value: string | number | null): string | null {
  return value === null ? null : Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * The value a cursor carries, checked as strictly as any input: a number cursor is an id (a whole
 * number from 1 up to 2^53), a string cursor a key that PostgreSQL can hold. Anything else — a
 * cursor that decodes to `1e999`, `1.5`, `-3` or a NUL — is one this API never returned.
 */
export function decodeCursor<T extends string | number>(cursor: string | undefined, type: 'string' | 'number'): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (type === 'number' && typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return value as T;
    if (type === 'string' && typeof value === 'string' && value.length <= 256 && textProblem(value) === undefined) return value as T;
  } catch {
    // Fall through to the error below.
  }
  throw new AppError('validation_error', 'cursor is not one this API returned', { issues: [{ path: 'cursor', message: 'invalid' }] });
}
