import type { Context, Next } from 'koa';
import { LRUCache } from 'lru-cache';
import { hashToken, type Scope } from '../data/tokens.ts';
import { AppError } from '../errors.ts';
import type { JwtAuthenticator } from './jwt-authenticator.ts';
import type { LiveTokenSet } from './live-token-set.ts';
import type { Principal } from './principal.ts';

export interface Authenticator {
  /**
   * Resolves an Authorization header to its principal, or throws `unauthenticated`. A promise only
   * for a JWT seen for the first time (its signature check is asynchronous).
   */
  authenticate(authorization: string | undefined): Principal | Promise<Principal>;
}

/** Longer headers are refused unread: no token secret is anywhere near this long. */
const MAX_AUTHORIZATION_LENGTH = 512;
const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * Authentication from memory only: the secret's SHA-256 looked up in the live token set. Each
 * Authorization header that authenticated is remembered (by its exact text) with its principal, so
 * a repeat is one map lookup, with no parsing and no hashing; the cache is bounded in bytes, keys
 * included, holds only headers that authenticated (a stream of made-up secrets cannot fill it), and
 * is emptied whenever a token comes or goes, so a revocation takes effect on the next request.
 * The trade-off: the secrets of recently used tokens sit in this process's memory, as they do in
 * every request that carries them.
 */
export function createAuthenticator(tokens: Pick<LiveTokenSet, 'lookup' | 'changeCount'>, options: { cacheBytes?: number; jwt?: JwtAuthenticator | undefined } = {}): Authenticator {
  const { jwt } = options;
  const byHeader = new LRUCache<string, Principal>({
    maxSize: options.cacheBytes ?? 4 * 1024 * 1024,
    // UTF-16 characters of the key, plus the entry's share of the cache's own bookkeeping.
    sizeCalculation: (_principal, header) => header.length * 2 + 96,
  });
  let cachedAtChange = tokens.changeCount;
  return {
    authenticate(authorization) {
      if (tokens.changeCount !== cachedAtChange) {
        byHeader.clear();
        cachedAtChange = tokens.changeCount;
      }
      if (authorization === undefined) throw new AppError('unauthenticated', 'an Authorization: Bearer <token> header is required');
      const cached = byHeader.get(authorization);
      if (cached) return cached;
      // With an identity provider configured, a JWT goes to its own authenticator (and cache).
      if (jwt?.handles(authorization)) return jwt.authenticate(authorization);
      const secret = authorization.length <= MAX_AUTHORIZATION_LENGTH ? BEARER.exec(authorization)?.[1] : undefined;
      if (secret === undefined) throw new AppError('unauthenticated', 'an Authorization: Bearer <token> header is required');
      const principal = tokens.lookup(hashToken(secret));
      if (!principal) throw new AppError('unauthenticated', 'the token is unknown or revoked');
      byHeader.set(authorization, principal);
      return principal;
    },
  };
}

/** `feature_flag:admin` holds every other scope. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has(scope) || principal.scopes.has('feature_flag:admin');
}

/**
 * Koa middleware: authenticates the request and requires `scope` (or, given a list, any one of
 * them); the principal lands in `ctx.state`.
 */
export function requireScope(authenticator: Authenticator, scope: Scope | readonly Scope[]) {
  const anyOf: readonly Scope[] = typeof scope === 'string' ? [scope] : scope;
  return async function checkScope(ctx: Context, next: Next): Promise<void> {
    const authenticated = authenticator.authenticate(ctx.get('authorization') || undefined);
    const principal = authenticated instanceof Promise ? await authenticated : authenticated;
    if (!anyOf.some((one) => hasScope(principal, one))) {
      throw new AppError('permission_denied', `the token "${principal.name}" lacks the scope ${anyOf.join(' or ')}`);
    }
    ctx.state.principal = principal;
    await next();
  };
}
