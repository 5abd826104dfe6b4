import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { parseRoleMap, type ClaimMapping } from '../../src/api/identity-claims.ts';
import type { IdentityProviderConfig } from '../../src/config.ts';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** An RS256 key pair the test generates; its public half is what a JWKS publishes. */
export async function newSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export interface LoopbackIdentityProvider {
  issuer: string;
  audience: string;
  /** The keys the JWKS publishes now; replace them to rotate. */
  published: SigningKey[];
  /** Requests for the JWKS served so far (answered or not). */
  readonly jwksFetches: number;
  /** While true the JWKS answers 500, as a provider having an outage does. */
  failing: boolean;
  /** A JWT signed with `key` (the first published one by default), valid for an hour unless the claims say otherwise. */
  sign(claims: JWTPayload, options?: { key?: SigningKey; issuer?: string; audience?: string; expiresAt?: number }): Promise<string>;
  /** The API's configuration for this provider: discovery at the issuer, these group mappings. */
  config(roles: Record<string, unknown>, mapping?: Partial<Omit<ClaimMapping, 'roles'>>): IdentityProviderConfig;
  close(): Promise<void>;
}

/**
 * An OpenID provider on loopback, as far as a resource server sees one: a discovery document and a
 * JWKS of keys generated here, and tokens signed with them. The API reaches it through its outbound
 * client, so the test's policy must allow loopback.
 */
export async function startLoopbackIdentityProvider(): Promise<LoopbackIdentityProvider> {
  let jwksFetches = 0;
  const provider: LoopbackIdentityProvider = {
    issuer: '',
    audience: 'flagship-api',
    published: [await newSigningKey('key-1')],
    failing: false,
    get jwksFetches() {
      return jwksFetches;
    },
    async sign(claims, options = {}) {
      const key = options.key ?? provider.published[0]!;
      const now = Math.floor(Date.now() / 1_000);
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
        .setIssuer(options.issuer ?? provider.issuer)
        .setAudience(options.audience ?? provider.audience)
        .setIssuedAt(now)
        .setExpirationTime(options.expiresAt ?? now + 3_600)
        .sign(key.privateKey);
    },
    config(roles, mapping = {}) {
      return {
        issuer: provider.issuer,
        audience: provider.audience,
        jwksUrl: undefined,
        identityClaim: mapping.identityClaim ?? 'sub',
        groupsClaim: mapping.groupsClaim ?? 'groups',
        roles: parseRoleMap(JSON.stringify(roles)),
        jwksRefreshSeconds: 600,
      };
    },
    close: async () => undefined,
  };
  const server: Server = createServer((request, response) => {
    const json = (body: unknown) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.url === '/.well-known/openid-configuration') return json({ issuer: provider.issuer, jwks_uri: `${provider.issuer}/jwks` });
    if (request.url === '/jwks') {
      jwksFetches += 1;
      if (provider.failing) return void response.writeHead(500).end();
      return json({ keys: provider.published.map((key) => key.publicJwk) });
    }
    response.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  provider.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return provider;
}
