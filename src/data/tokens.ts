import { createHash, randomBytes } from 'node:crypto';
import { sql } from './sql.ts';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import { BUILT_IN_ADMIN_ID, isReservedActorId, OWNER_KINDS, SYSTEM_ACTOR, type Actor, type OwnerKind } from './actor.ts';
import type { DatabasePool } from './pool.ts';
import { appendAudit, appendEvent, inWriteTransaction, type WriteTransaction } from './write-transaction.ts';

export const SCOPES = [
  'feature_flag:evaluate',
  'feature_flag:manage',
  'feature_flag:approve',
  'feature_flag:killswitch',
  'feature_flag:metrics',
  'feature_flag:admin',
  /** A front-end's token: OFREP evaluation only, answering values and variants (see docs/openfeature.md). */
  'feature_flag:browser',
] as const;
export type Scope = (typeof SCOPES)[number];

/** The first built-in admin token's name; later ones (a changed FLAGS_ADMIN_TOKEN) are `admin#2`, `admin#3`… */
const ADMIN_TOKEN_NAME = 'admin';

/** Tokens are 32 random bytes; only their SHA-256 is stored, so a database dump reveals none. */
export function generateTokenSecret(): string {
  return `ffs_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The person or service a token belongs to: the actor of every change made with it. */
export interface TokenOwner {
  /** Stable and unique per person or service: an e-mail address, the identity provider's subject, a service's name. */
  id: string;
  name: string;
  kind: OwnerKind;
}

export interface TokenRecord {
  id: string;
  name: string;
  owner: TokenOwner;
  scopes: Scope[];
  /** Evaluation is limited to these project ids; null means every project. */
  projectIds: string[] | null;
  /** A front-end's token whose contexts must carry a signed targetingKey. */
  signedContext: boolean;
  /** Made by the service from FLAGS_ADMIN_TOKEN, not through the API. */
  builtIn: boolean;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

const tokenRow = z.object({
  id: z.string(),
  name: z.string(),
  owner_id: z.string(),
  owner_name: z.string(),
  owner_kind: z.enum(OWNER_KINDS),
  scopes: z.array(z.enum(SCOPES)),
  project_ids: z.array(z.string()).nullable(),
  signed_context: z.boolean(),
  built_in: z.boolean(),
  created_at: z.number(),
  created_by: z.string(),
  revoked_at: z.number().nullable(),
});

const TOKEN_COLUMNS = sql.fragment`id, name, owner_id, owner_name, owner_kind, scopes, project_ids, context_signing_secret IS NOT NULL AS signed_context, built_in, created_at, created_by, revoked_at`;

function toTokenRecord(row: z.infer<typeof tokenRow>): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    owner: { id: row.owner_id, name: row.owner_name, kind: row.owner_kind },
    scopes: row.scopes,
    projectIds: row.project_ids,
    signedContext: row.signed_context,
    builtIn: row.built_in,
    createdAt: new Date(row.created_at).toISOString(),
    createdBy: row.created_by,
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
  };
}

function newTokenId(): string {
  return `tok_${randomBytes(9).toString('base64url')}`;
}

/** What authenticating needs of a live token: never its secret, only the secret's SHA-256. */
export interface LiveToken {
  id: string;
  name: string;
  owner: TokenOwner;
  tokenHash: string;
  scopes: Scope[];
  projectIds: string[] | null;
  /** Whether contexts must carry a signed targetingKey; the secret is held only where it was read from the database. */
  signedContext?: boolean;
  contextSigningSecret?: string;
}

export const liveTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.object({ id: z.string(), name: z.string(), kind: z.enum(OWNER_KINDS) }),
  tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
  scopes: z.array(z.enum(SCOPES)),
  projectIds: z.array(z.string()).nullable(),
  signedContext: z.boolean().optional(),
});

const liveTokenRow = z.object({
  id: z.string(),
  name: z.string(),
  owner_id: z.string(),
  owner_name: z.string(),
  owner_kind: z.enum(OWNER_KINDS),
  token_hash: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  project_ids: z.array(z.string()).nullable(),
  context_signing_secret: z.string().nullable(),
  live: z.boolean(),
});

function toLiveToken(row: z.infer<typeof liveTokenRow>): LiveToken {
  return {
    id: row.id,
    name: row.name,
    owner: { id: row.owner_id, name: row.owner_name, kind: row.owner_kind },
    tokenHash: row.token_hash,
    scopes: row.scopes,
    projectIds: row.project_ids,
    ...(row.context_signing_secret === null ? {} : { signedContext: true, contextSigningSecret: row.context_signing_secret }),
  };
}

const LIVE_TOKEN_COLUMNS = sql.fragment`id, name, owner_id, owner_name, owner_kind, token_hash, scopes, project_ids, context_signing_secret, revoked_at IS NULL AS live`;
const TOKEN_CHANGE = sql.fragment`type LIKE 'token.%'`;
const idRow = z.object({ id: z.number().nullable() });

export interface TokenSetState {
  /** The outbox id of the newest token event included: the token set's version. */
  version: number;
  tokens: LiveToken[];
}

/** Every live token and the version they are current at, read in one repeatable-read transaction. */
export async function loadTokenSetState(db: DatabasePool): Promise<TokenSetState> {
  return db.transaction(async (tx) => {
    await tx.query(sql.typeAlias('void')`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    const version = (await tx.oneFirst(sql.type(idRow)`SELECT max(id) AS id FROM outbox WHERE ${TOKEN_CHANGE}`)) ?? 0;
    const rows = await tx.any(sql.type(liveTokenRow)`SELECT ${LIVE_TOKEN_COLUMNS} FROM tokens WHERE revoked_at IS NULL`);
    return { version, tokens: rows.map(toLiveToken) };
  });
}

/** The newest token event; what the token set's periodic check compares with. */
export async function currentTokenSetVersion(db: DatabasePool): Promise<number> {
  return (await db.oneFirst(sql.type(idRow)`SELECT max(id) AS id FROM outbox WHERE ${TOKEN_CHANGE}`)) ?? 0;
}

export interface TokenSetChanges {
  version: number;
  /** Tokens created after the version that are still live. */
  live: LiveToken[];
  /** Ids of tokens revoked after the version. */
  revoked: string[];
}

/**
 * The current rows of every token named by a token event after `version`. Event ids are given in
 * commit order, so the committed ones form a prefix in id order (see flagSetChangesSince).
 */
export async function tokenSetChangesSince(db: DatabasePool, version: number): Promise<TokenSetChanges> {
  const newest = await currentTokenSetVersion(db);
  if (newest <= version) return { version, live: [], revoked: [] };
  const rows = await db.any(sql.type(liveTokenRow)`
    SELECT ${LIVE_TOKEN_COLUMNS} FROM tokens WHERE id IN (
      SELECT entity_key FROM outbox WHERE id > ${version} AND id <= ${newest} AND ${TOKEN_CHANGE} AND entity_key IS NOT NULL)`);
  return { version: newest, live: rows.filter((row) => row.live).map(toLiveToken), revoked: rows.filter((row) => !row.live).map((row) => row.id) };
}

/** What a token may hand on when it mints a token, and take back when it revokes one: its own scopes and projects. */
export interface Authority {
  scopes: ReadonlySet<Scope>;
  projectIds: readonly string[] | null;
}

/**
 * Refuses (permission_denied) a token that would reach beyond `authority`: a scope the grantor does
 * not hold (`feature_flag:admin` holds them all), or projects outside the grantor's list (a grantor
 * limited to projects can only hand on tokens limited to some of them).
 */
function assertWithin(authority: Authority, token: { name: string; scopes: readonly Scope[]; projectIds: readonly string[] | null }, verb: 'mint' | 'revoke'): void {
  const isAdmin = authority.scopes.has('feature_flag:admin');
  const beyond = token.scopes.filter((scope) => !isAdmin && !authority.scopes.has(scope));
  if (beyond.length) {
    throw new AppError('permission_denied', `a token may ${verb} only tokens within its own scopes; ${beyond.join(', ')} ${beyond.length === 1 ? 'is' : 'are'} not among them`, { scopes: beyond });
  }
  const limit = authority.projectIds;
  if (limit === null) return;
  const outside = token.projectIds === null ? null : token.projectIds.filter((project) => !limit.includes(project));
  if (outside === null || outside.length) {
    const what = outside === null ? `every project (the token "${token.name}" has no project limit)` : `projects ${outside.join(', ')}`;
    throw new AppError('permission_denied', `a token limited to projects ${limit.join(', ')} may ${verb} only tokens limited to some of them, not one for ${what}`, { projectIds: limit });
  }
}

export interface TokenInput {
  name: string;
  owner: { id: string; name?: string | undefined; kind?: OwnerKind | undefined };
  scopes: Scope[];
  projectIds?: string[] | null;
  /** A front-end's token that requires signed contexts: a secret for the customer's backend is made and returned once. */
  signedContext?: boolean;
}

/**
 * Creates a token and returns its secret, which is never stored and never shown again. `authority`
 * is the creating token's: nothing beyond it can be handed on. Names are never reused, not even
 * after revocation and not in another case, and neither a name nor an owner may pose as the
 * service's own (the built-in `admin`, `system`, the workflows).
 */
export async function createToken(db: DatabasePool, input: TokenInput, by: { actor: Actor; authority: Authority }): Promise<{ token: TokenRecord; secret: string; contextSigningSecret?: string }> {
  const scopes = [...new Set(input.scopes)];
  const projectIds = input.projectIds ?? null;
  assertWithin(by.authority, { name: input.name, scopes, projectIds }, 'mint');
  if (input.name.toLowerCase() === ADMIN_TOKEN_NAME) {
    throw new AppError('validation_error', `the name "${input.name}" is the built-in admin token's`, { issues: [{ path: 'name', message: 'reserved' }] });
  }
  if (isReservedActorId(input.owner.id)) {
    throw new AppError('validation_error', `"${input.owner.id}" is the service's own actor in the audit log; a token cannot belong to it`, { issues: [{ path: 'owner.id', message: 'reserved' }] });
  }
  const owner: TokenOwner = { id: input.owner.id, name: input.owner.name ?? input.owner.id, kind: input.owner.kind ?? 'person' };
  const secret = generateTokenSecret();
  return inWriteTransaction(db, async (tx) => {
    const taken = await tx.maybeOne(sql.type(z.object({ name: z.string(), revoked: z.boolean() }))`
      SELECT name, revoked_at IS NOT NULL AS revoked FROM tokens WHERE lower(name) = lower(${input.name})`);
    if (taken) {
      throw new AppError('validation_error', `a token was already named "${taken.name}"${taken.revoked ? ' (now revoked)' : ''}: names are never reused, so the audit log's older entries keep meaning one token`, {
        issues: [{ path: 'name', message: 'already used' }],
      });
    }
    const contextSigningSecret = input.signedContext ? `ffc_${randomBytes(32).toString('base64url')}` : undefined;
    const token = await insertToken(tx, { name: input.name, owner, scopes, projectIds, builtIn: false, secret, contextSigningSecret }, by.actor);
    return { token, secret, ...(contextSigningSecret ? { contextSigningSecret } : {}) };
  });
}

async function insertToken(
  tx: WriteTransaction,
  input: { name: string; owner: TokenOwner; scopes: readonly Scope[]; projectIds: readonly string[] | null; builtIn: boolean; secret: string; contextSigningSecret?: string | undefined },
  actor: Actor,
): Promise<TokenRecord> {
  const row = await tx.one(sql.type(tokenRow)`
    INSERT INTO tokens (id, name, owner_id, owner_name, owner_kind, token_hash, scopes, project_ids, context_signing_secret, built_in, created_by)
    VALUES (${newTokenId()}, ${input.name}, ${input.owner.id}, ${input.owner.name}, ${input.owner.kind}, ${hashToken(input.secret)},
            ${sql.array([...input.scopes], 'text')}, ${input.projectIds ? sql.array([...input.projectIds], 'text') : null}, ${input.contextSigningSecret ?? null}, ${input.builtIn}, ${actor.id})
    RETURNING ${TOKEN_COLUMNS}`);
  const token = toTokenRecord(row);
  await appendAudit(tx, { actor, action: 'token.created', entityType: 'token', entityKey: token.id, before: null, after: token });
  await appendEvent(tx, { type: 'token.created', entityKey: token.id, payload: { tokenId: token.id, name: token.name, ownerId: token.owner.id, scopes: token.scopes, actor: actor.id } });
  return token;
}

export async function listTokens(db: DatabasePool, options: { includeRevoked: boolean }): Promise<TokenRecord[]> {
  const rows = await db.any(sql.type(tokenRow)`
    SELECT ${TOKEN_COLUMNS} FROM tokens ${options.includeRevoked ? sql.fragment`` : sql.fragment`WHERE revoked_at IS NULL`} ORDER BY created_at, id`);
  return rows.map(toTokenRecord);
}

/**
 * Revokes a token, under the write lock so two revocations cannot race past the checks: a token
 * cannot revoke itself, nor one reaching beyond its own authority, nor the last live admin token
 * without a project limit (the one that can still mint every other kind).
 */
export async function revokeToken(db: DatabasePool, id: string, by: { actor: Actor; authority: Authority }): Promise<TokenRecord> {
  return inWriteTransaction(db, async (tx) => {
    const current = await tx.maybeOne(sql.type(tokenRow)`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ${id}`);
    if (!current || current.revoked_at !== null) throw new AppError('not_found', `no live token with id "${id}"`);
    if (id === by.actor.tokenId) {
      throw new AppError('validation_error', `a token cannot revoke itself: ask another admin to revoke "${current.name}"`, { reason: 'self' });
    }
    const target = toTokenRecord(current);
    assertWithin(by.authority, target, 'revoke');
    if (isUnlimitedAdmin(target)) {
      const others = await tx.oneFirst(sql.type(z.object({ count: z.number() }))`
        SELECT count(*)::int AS count FROM tokens
        WHERE revoked_at IS NULL AND 'feature_flag:admin' = ANY (scopes) AND project_ids IS NULL AND id <> ${id}`);
      if (others === 0) {
        throw new AppError('validation_error', `"${target.name}" is the last admin token without a project limit; mint another before revoking it, or nobody could manage tokens any more`, { reason: 'last_admin' });
      }
    }
    return revokeIn(tx, target, by.actor);
  });
}

function isUnlimitedAdmin(token: TokenRecord): boolean {
  return token.scopes.includes('feature_flag:admin') && token.projectIds === null;
}

async function revokeIn(tx: WriteTransaction, current: TokenRecord, actor: Actor): Promise<TokenRecord> {
  const row = await tx.one(sql.type(tokenRow)`UPDATE tokens SET revoked_at = now() WHERE id = ${current.id} RETURNING ${TOKEN_COLUMNS}`);
  const token = toTokenRecord(row);
  await appendAudit(tx, { actor, action: 'token.revoked', entityType: 'token', entityKey: token.id, before: current, after: token });
  await appendEvent(tx, { type: 'token.revoked', entityKey: token.id, payload: { tokenId: token.id, name: token.name, ownerId: token.owner.id, actor: actor.id } });
  return token;
}

/** FLAGS_ADMIN_TOKEN names a token that was revoked: it is never accepted again. */
class RevokedAdminTokenError extends Error {
  constructor(token: TokenRecord, revokedBy: string | null) {
    super(
      `FLAGS_ADMIN_TOKEN is the secret of the built-in admin token "${token.name}", revoked at ${token.revokedAt}${revokedBy ? ` by ${revokedBy}` : ''}, ` +
        'and a revoked secret never works again: set FLAGS_ADMIN_TOKEN to a new secret (or, without FLAGS_ADMIN_TOKEN, delete the admin-token file in the data folder so one is generated), and the next start makes it the built-in admin token',
    );
    this.name = 'RevokedAdminTokenError';
  }
}

/**
 * Makes sure the built-in admin token has this secret: a live built-in token with its hash, every
 * scope and no project limit. Idempotent, so every start calls it. A changed FLAGS_ADMIN_TOKEN
 * revokes the previous built-in token and creates a new one (`admin#2`…), both audited as the
 * service's own changes; a secret whose token was revoked is refused with RevokedAdminTokenError.
 */
export async function ensureAdminToken(db: DatabasePool, secret: string): Promise<TokenRecord> {
  const tokenHash = hashToken(secret);
  return inWriteTransaction(db, async (tx) => {
    const same = await tx.maybeOne(sql.type(tokenRow)`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE token_hash = ${tokenHash}`);
    if (same) {
      const token = toTokenRecord(same);
      if (!token.builtIn) throw new Error(`FLAGS_ADMIN_TOKEN is the secret of the token "${token.name}", which was minted through the API: choose another secret for the built-in admin token`);
      if (token.revokedAt === null) return token;
      const revokedBy = await tx.maybeOneFirst(sql.type(z.object({ actor: z.string() }))`
        SELECT actor FROM audit_log WHERE entity_type = 'token' AND entity_key = ${token.id} AND action = 'token.revoked' ORDER BY id DESC LIMIT 1`);
      throw new RevokedAdminTokenError(token, revokedBy);
    }
    const previous = await tx.any(sql.type(tokenRow)`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE built_in AND revoked_at IS NULL FOR UPDATE`);
    for (const row of previous) await revokeIn(tx, toTokenRecord(row), SYSTEM_ACTOR);
    return insertToken(
      tx,
      {
        name: await nextBuiltInName(tx),
        owner: { id: BUILT_IN_ADMIN_ID, name: 'built-in admin', kind: 'service' },
        scopes: SCOPES,
        projectIds: null,
        builtIn: true,
        secret,
      },
      SYSTEM_ACTOR,
    );
  });
}

/** `admin` for the first built-in token, then `admin#2`, `admin#3`…: a name minted tokens cannot have (`#`), never reused. */
async function nextBuiltInName(tx: WriteTransaction): Promise<string> {
  const builtIn = await tx.oneFirst(sql.type(z.object({ count: z.number() }))`SELECT count(*)::int AS count FROM tokens WHERE built_in`);
  for (let number = builtIn + 1; ; number += 1) {
    const name = number === 1 ? ADMIN_TOKEN_NAME : `${ADMIN_TOKEN_NAME}#${number}`;
    const taken = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM tokens WHERE lower(name) = lower(${name})`);
    if (taken === null) return name;
  }
}
