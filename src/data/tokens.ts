import { createHash, randomBytes } from 'node:crypto';
import { sql } from './sql.ts';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { DatabasePool } from './pool.ts';
import { appendAudit, appendEvent, inWriteTransaction } from './write-transaction.ts';

export const SCOPES = [
  'feature_flag:evaluate',
  'feature_flag:manage',
  'feature_flag:approve',
  'feature_flag:killswitch',
  'feature_flag:admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export const ADMIN_TOKEN_NAME = 'admin';

/** Tokens are 32 random bytes; only their SHA-256 is stored, so a database dump reveals none. */
export function generateTokenSecret(): string {
  return `ffs_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * Makes sure the admin token works: the live token named `admin` has this secret's hash and every
 * scope. Idempotent, so every start can call it; a changed FLAGS_ADMIN_TOKEN replaces the old one.
 */
export async function ensureAdminToken(db: DatabasePool, secret: string): Promise<void> {
  const tokenHash = hashToken(secret);
  await db.transaction(async (tx) => {
    const current = await tx.maybeOne(
      sql.type(z.object({ token_hash: z.string() }))`
        SELECT token_hash FROM tokens WHERE name = ${ADMIN_TOKEN_NAME} AND revoked_at IS NULL FOR UPDATE`,
    );
    if (current?.token_hash === tokenHash) return;
    if (current) {
      await tx.query(sql.typeAlias('void')`UPDATE tokens SET revoked_at = now() WHERE name = ${ADMIN_TOKEN_NAME} AND revoked_at IS NULL`);
    }
    await tx.query(sql.typeAlias('void')`
      INSERT INTO tokens (id, name, token_hash, scopes, created_by)
      VALUES (${`tok_${randomBytes(9).toString('base64url')}`}, ${ADMIN_TOKEN_NAME}, ${tokenHash},
              ${sql.array([...SCOPES], 'text')}, 'system')`);
  });
}

export interface TokenRecord {
  id: string;
  name: string;
  scopes: Scope[];
  /** Evaluation is limited to these project ids; null means every project. */
  projectIds: string[] | null;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

const tokenRow = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  project_ids: z.array(z.string()).nullable(),
  created_at: z.number(),
  created_by: z.string(),
  revoked_at: z.number().nullable(),
});

function toTokenRecord(row: z.infer<typeof tokenRow>): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    projectIds: row.project_ids,
    createdAt: new Date(row.created_at).toISOString(),
    createdBy: row.created_by,
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
  };
}

export async function findLiveTokenByHash(db: DatabasePool, tokenHash: string): Promise<TokenRecord | null> {
  const row = await db.maybeOne(sql.type(tokenRow)`
    SELECT id, name, scopes, project_ids, created_at, created_by, revoked_at
    FROM tokens WHERE token_hash = ${tokenHash} AND revoked_at IS NULL`);
  return row ? toTokenRecord(row) : null;
}

export interface TokenInput {
  name: string;
  scopes: Scope[];
  projectIds?: string[] | null;
}

const TOKEN_COLUMNS = sql.fragment`id, name, scopes, project_ids, created_at, created_by, revoked_at`;

/** Creates a token and returns its secret, which is never stored and never shown again. */
export async function createToken(db: DatabasePool, input: TokenInput, actor: string): Promise<{ token: TokenRecord; secret: string }> {
  const secret = generateTokenSecret();
  return inWriteTransaction(db, async (tx) => {
    const taken = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
      SELECT id FROM tokens WHERE name = ${input.name} AND revoked_at IS NULL`);
    if (taken) throw new AppError('validation_error', `a live token is already named "${input.name}": the name is the actor in audit entries, so it must be unique`, { issues: [{ path: 'name', message: 'already in use' }] });
    const row = await tx.one(sql.type(tokenRow)`
      INSERT INTO tokens (id, name, token_hash, scopes, project_ids, created_by)
      VALUES (${`tok_${randomBytes(9).toString('base64url')}`}, ${input.name}, ${hashToken(secret)},
              ${sql.array([...new Set(input.scopes)], 'text')},
              ${input.projectIds ? sql.array(input.projectIds, 'text') : null}, ${actor})
      RETURNING ${TOKEN_COLUMNS}`);
    const token = toTokenRecord(row);
    await appendAudit(tx, { actor, action: 'token.created', entityType: 'token', entityKey: token.id, before: null, after: token });
    await appendEvent(tx, { type: 'token.created', entityKey: token.id, payload: { tokenId: token.id, name: token.name, scopes: token.scopes, actor } });
    return { token, secret };
  });
}

export async function listTokens(db: DatabasePool, options: { includeRevoked: boolean }): Promise<TokenRecord[]> {
  const rows = await db.any(sql.type(tokenRow)`
    SELECT ${TOKEN_COLUMNS} FROM tokens ${options.includeRevoked ? sql.fragment`` : sql.fragment`WHERE revoked_at IS NULL`} ORDER BY created_at, id`);
  return rows.map(toTokenRecord);
}

export async function revokeToken(db: DatabasePool, id: string, actor: string): Promise<TokenRecord> {
  return inWriteTransaction(db, async (tx) => {
    const current = await tx.maybeOne(sql.type(tokenRow)`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ${id}`);
    if (!current || current.revoked_at !== null) throw new AppError('not_found', `no live token with id "${id}"`);
    const row = await tx.one(sql.type(tokenRow)`UPDATE tokens SET revoked_at = now() WHERE id = ${id} RETURNING ${TOKEN_COLUMNS}`);
    const token = toTokenRecord(row);
    await appendAudit(tx, { actor, action: 'token.revoked', entityType: 'token', entityKey: id, before: toTokenRecord(current), after: token });
    await appendEvent(tx, { type: 'token.revoked', entityKey: id, payload: { tokenId: id, name: token.name, actor } });
    return token;
  });
}
