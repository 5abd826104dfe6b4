import { errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { AppError } from '../errors.ts';
import { principalFromClaims, type ClaimMapping } from './identity-claims.ts';
import type { Principal } from './principal.ts';

export interface JwtAuthenticator {
  /** Whether the header carries a JWT (its JSON header base64url-encoded starts `eyJ`); static tokens never do. */
  handles(authorization: string): boolean;
  /** The principal of a verified JWT: from memory for one seen before, else verified (once) against the provider's keys. */
  authenticate(authorization: string): Principal | Promise<Principal>;
}

export interface JwtAuthenticatorOptions extends ClaimMapping {
  issuer: string;
  audience: string;
  keys: JWTVerifyGetKey;
  cacheBytes?: number;
}

/** Asymmetric algorithms only: a shared-secret (HS*) token would be forgeable by anyone holding the JWKS's secret, and `none` is no signature. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const JWT_PREFIX = /^Bearer\s+eyJ/i;
const JWT_BEARER = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;
/**
 * The provider's clock and ours may differ a little: a token issued a moment "in the future" (`nbf`,
 * `iat`) still works. Its `exp` gets no such grace: it is checked again after jose's own check.
 */
const CLOCK_TOLERANCE_SECONDS = 30;
/** Tokens with many groups run to a few kilobytes; past 8 KiB, proxies in front refuse the header anyway. */
const MAX_JWT_HEADER_LENGTH = 8 * 1024;
/**
 * A verified token is trusted from memory until its `exp`, but no longer than this: a key the
 * provider retires (or a role mapping changed on restart) reaches tokens already seen within it.
 */
const MAX_TRUST_MS = 10 * 60_000;

interface Verified {
  principal: Principal;
  /** Epoch ms: the token's `exp`, or sooner. */
  until: number;
}

/**
 * Bearer JWTs from the company's identity provider, verified with jose: signature against the
 * provider's keys (asymmetric algorithms only), `iss`, `aud`, `exp` and `nbf`. Each header that
 * verified is remembered with its principal until the token's `exp` (bounded in bytes, holding only
 * tokens that verified, so made-up tokens cannot fill it): a repeat is one map lookup and a clock
 * read, with no parsing, no signature check and no network call.
 */
export function createJwtAuthenticator(options: JwtAuthenticatorOptions): JwtAuthenticator {
  const verified = new LRUCache<string, Verified>({
    maxSize: options.cacheBytes ?? 8 * 1024 * 1024,
    // UTF-16 characters of the key, plus the principal and the cache's own bookkeeping.
    sizeCalculation: (_entry, header) => header.length * 2 + 512,
  });

  async function verify(authorization: string): Promise<Principal> {
    const token = authorization.length <= MAX_JWT_HEADER_LENGTH ? JWT_BEARER.exec(authorization)?.[1] : undefined;
    if (token === undefined) throw new AppError('unauthenticated', 'the bearer JWT is malformed');
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, options.keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      throw refusal(error);
    }
    if (claims.exp! * 1_000 <= Date.now()) throw new AppError('unauthenticated', 'the JWT has expired');
    const principal = principalFromClaims(claims, options);
    verified.set(authorization, { principal, until: Math.min(claims.exp! * 1_000, Date.now() + MAX_TRUST_MS) });
    return principal;
  }

  return {
    handles: (authorization) => JWT_PREFIX.test(authorization),
    authenticate(authorization) {
      const known = verified.get(authorization);
      if (known !== undefined) {
        if (Date.now() < known.until) return known.principal;
        verified.delete(authorization);
      }
      return verify(authorization);
    },
  };
}

/** What was wrong with the token, in words that help its holder and reveal nothing of the keys. */
function refusal(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof errors.JWTExpired) return new AppError('unauthenticated', 'the JWT has expired');
  if (error instanceof errors.JWTClaimValidationFailed) return new AppError('unauthenticated', `the JWT's "${error.claim}" claim is not accepted (${error.reason})`);
  if (error instanceof errors.JOSEAlgNotAllowed) return new AppError('unauthenticated', 'the JWT\'s algorithm is not accepted (asymmetric signatures only; never "none")');
  if (error instanceof errors.JWKSNoMatchingKey) return new AppError('unauthenticated', 'the JWT is signed with a key the identity provider does not publish');
  if (error instanceof errors.JWSSignatureVerificationFailed) return new AppError('unauthenticated', 'the JWT\'s signature does not verify');
  if (error instanceof errors.JOSEError) return new AppError('unauthenticated', `the JWT is not acceptable (${error.code})`);
  return new AppError('unauthenticated', 'the JWT could not be verified');
}
