import type { Context, Next } from 'koa';
import { LRUCache } from 'lru-cache';
import type { Actor, OwnerKind } from '../data/actor.ts';
import type { DatabasePool } from '../data/pool.ts';
import { findLiveTokenByHash, hashToken, type Scope, type TokenRecord } from '../data/tokens.ts';
import { AppError } from '../errors.ts';

export interface Principal {
  tokenId: string;
  /** The token's own name, for messages. */
  name: string;
  /**
   * The person or service behind the credential, with the token used: the actor recorded in audit
   * entries and change requests, and what two-person approval compares. A JWT's subject will fill
   * it the same way (issue 14), so a person is one actor whichever credential they use.
   */
  actor: Actor;
  /** Only people approve changes. */
  ownerKind: OwnerKind;
  scopes: ReadonlySet<Scope>;
  projectIds: readonly string[] | null;
}

export interface Authenticator {
  /** Resolves a bearer secret to its principal, or throws `unauthenticated`. */
  authenticate(authorization: string | undefined): Promise<Principal>;
  /** Drops a revoked token from this process's cache at once (other processes within `ttlMs`). */
  forget(tokenId: string): void;
}

function toPrincipal(token: TokenRecord): Principal {
  return {
    tokenId: token.id,
    name: token.name,
    actor: { id: token.owner.id, name: token.owner.name, tokenId: token.id },
    ownerKind: token.owner.kind,
    scopes: new Set(token.scopes),
    projectIds: token.projectIds,
  };
}

/**
 * Token checks sit on the evaluation hot path, so a token's principal is cached by the hash of its
 * secret for `ttlMs`: a revocation reaches the process that made it at once and every other process
 * within the TTL. Unknown secrets are cached too, briefly, so a client with a bad token cannot turn
 * every request into a database round trip.
 */
export function createAuthenticator(db: DatabasePool, options: { ttlMs?: number; max?: number } = {}): Authenticator {
  const ttl = options.ttlMs ?? 5_000;
  const cache = new LRUCache<string, Principal | false>({ max: options.max ?? 10_000, ttl });
  return {
    async authenticate(authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!match?.[1]) throw new AppError('unauthenticated', 'an Authorization: Bearer <token> header is required');
      const tokenHash = hashToken(match[1]);
      let principal = cache.get(tokenHash);
      if (principal === undefined) {
        const token = await findLiveTokenByHash(db, tokenHash);
        principal = token ? toPrincipal(token) : false;
        cache.set(tokenHash, principal);
      }
      if (principal === false) throw new AppError('unauthenticated', 'the token is unknown or revoked');
      return principal;
    },
    forget(tokenId) {
      for (const [key, principal] of cache.entries()) {
        if (principal && principal.tokenId === tokenId) cache.delete(key);
      }
    },
  };
}

/** `feature_flag:admin` holds every other scope. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has(scope) || principal.scopes.has('feature_flag:admin');
}

export interface AuthState {
  principal: Principal;
}

/**
 * Koa middleware: authenticates the request and requires `scope` (or, given a list, any one of
 * them); the principal lands in `ctx.state`.
 */
export function requireScope(authenticator: Authenticator, scope: Scope | readonly Scope[]) {
  const anyOf: readonly Scope[] = typeof scope === 'string' ? [scope] : scope;
  return async function checkScope(ctx: Context, next: Next): Promise<void> {
    const principal = await authenticator.authenticate(ctx.get('authorization') || undefined);
    if (!anyOf.some((one) => hasScope(principal, one))) {
      throw new AppError('permission_denied', `the token "${principal.name}" lacks the scope ${anyOf.join(' or ')}`);
    }
    ctx.state.principal = principal;
    await next();
  };
}

export function principalOf(ctx: Context): Principal {
  const principal = (ctx.state as Partial<AuthState>).principal;
  if (!principal) throw new Error('principalOf called on a route without requireScope');
  return principal;
}
