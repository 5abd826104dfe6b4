import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { parseRoleMap, type ClaimMapping } from '../../src/api/identity-claims.ts';
import type { IdentityProviderConfig, SignInClients } from '../../src/config.ts';

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

/** One request to the token endpoint, as the provider saw it: what a test reads poll intervals from. */
export interface TokenRequest {
  at: number;
  grantType: string;
  clientId: string | undefined;
  /** The OAuth error answered, or undefined for tokens. */
  error: string | undefined;
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
  /** Every request to the token endpoint, in order. */
  readonly tokenRequests: TokenRequest[];
  /** Device flow: the `interval` (seconds) a new device authorization asks clients to poll at. */
  pollIntervalSeconds: number;
  /** Device flow: how long a new device code lives (seconds). */
  deviceCodeLifetimeSeconds: number;
  /** Device flow: the next this many polls of a pending authorization are answered `slow_down`. */
  slowDownPolls: number;
  /** Lifetime of the access tokens the token endpoint issues (seconds). */
  accessTokenLifetimeSeconds: number;
  /** The person who is signed in at the provider: the authorization page approves as them. */
  signedIn: JWTPayload | undefined;
  /** A JWT signed with `key` (the first published one by default), valid for an hour unless the claims say otherwise. */
  sign(claims: JWTPayload, options?: { key?: SigningKey; issuer?: string; audience?: string; expiresAt?: number }): Promise<string>;
  /** The user, at the verification page, approves the device whose code is `userCode`, signed in as `claims`. */
  approveUserCode(userCode: string, claims: JWTPayload): void;
  /** The user, at the verification page, refuses it. */
  denyUserCode(userCode: string): void;
  /** The API's configuration for this provider: discovery at the issuer, these group mappings, these sign-in clients. */
  config(roles: Record<string, unknown>, mapping?: Partial<Omit<ClaimMapping, 'roles'>>, clients?: Partial<SignInClients>): IdentityProviderConfig;
  close(): Promise<void>;
}

interface DeviceAuthorization {
  userCode: string;
  clientId: string;
  expiresAt: number;
  status: 'pending' | 'approved' | 'denied' | 'redeemed';
  claims?: JWTPayload;
}

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  claims: JWTPayload;
}

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const USER_CODE_LETTERS = 'BCDFGHJKLMNPQRSTVWXZ';

function userCode(): string {
  const letters = [...randomBytes(8)].map((byte) => USER_CODE_LETTERS[byte % USER_CODE_LETTERS.length]).join('');
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}

async function formOf(request: IncomingMessage): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of request) text += String(chunk);
  return new URLSearchParams(text);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/**
 * An OpenID provider on loopback: a discovery document and a JWKS of keys generated here, tokens
 * signed with them, and the two ways people sign in to a public client: the device authorization
 * grant (RFC 8628, for the CLI: the test plays the user at the verification page with
 * `approveUserCode`) and the authorization code grant with PKCE (RFC 7636, for the console: an
 * authorization page with an Approve button, as `signedIn`). The API reaches it through its
 * outbound client, so the test's policy must allow loopback.
 */
export async function startLoopbackIdentityProvider(): Promise<LoopbackIdentityProvider> {
  let jwksFetches = 0;
  const devices = new Map<string, DeviceAuthorization>();
  const codes = new Map<string, AuthorizationCode>();
  const refreshTokens = new Map<string, JWTPayload>();
  const provider: LoopbackIdentityProvider = {
    issuer: '',
    audience: 'flagship-api',
    published: [await newSigningKey('key-1')],
    failing: false,
    tokenRequests: [],
    pollIntervalSeconds: 1,
    deviceCodeLifetimeSeconds: 600,
    slowDownPolls: 0,
    accessTokenLifetimeSeconds: 3_600,
    signedIn: undefined,
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
    approveUserCode(code, claims) {
      const device = [...devices.values()].find((candidate) => candidate.userCode === code && candidate.status === 'pending');
      if (!device) throw new Error(`no pending device authorization has the user code ${code}`);
      device.status = 'approved';
      device.claims = claims;
    },
    denyUserCode(code) {
      const device = [...devices.values()].find((candidate) => candidate.userCode === code && candidate.status === 'pending');
      if (!device) throw new Error(`no pending device authorization has the user code ${code}`);
      device.status = 'denied';
    },
    config(roles, mapping = {}, clients = {}) {
      return {
        issuer: provider.issuer,
        audience: provider.audience,
        jwksUrl: undefined,
        identityClaim: mapping.identityClaim ?? 'sub',
        groupsClaim: mapping.groupsClaim ?? 'groups',
        roles: parseRoleMap(JSON.stringify(roles)),
        jwksRefreshSeconds: 600,
        clients: { cliClientId: clients.cliClientId, consoleClientId: clients.consoleClientId, scopes: clients.scopes ?? 'openid profile email' },
      };
    },
    close: async () => undefined,
  };

  async function tokens(claims: JWTPayload): Promise<Record<string, unknown>> {
    const refreshToken = randomBytes(24).toString('base64url');
    refreshTokens.set(refreshToken, claims);
    const expiresIn = provider.accessTokenLifetimeSeconds;
    // A token id of its own, as providers give: two tokens issued within one second still differ.
    const accessToken = await provider.sign({ ...claims, jti: randomBytes(12).toString('base64url') }, { expiresAt: Math.floor(Date.now() / 1_000) + expiresIn });
    return { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, refresh_token: refreshToken, scope: 'openid profile email' };
  }

  async function token(form: URLSearchParams): Promise<{ status: number; body: Record<string, unknown> }> {
    const grantType = form.get('grant_type') ?? '';
    const refuse = (error: string, status = 400) => ({ status, body: { error } });
    if (grantType === DEVICE_CODE_GRANT) {
      const device = devices.get(form.get('device_code') ?? '');
      if (!device || device.clientId !== form.get('client_id')) return refuse('invalid_grant');
      if (Date.now() >= device.expiresAt) return refuse('expired_token');
      if (device.status === 'denied') return refuse('access_denied');
      if (device.status === 'redeemed') return refuse('invalid_grant');
      if (device.status === 'pending') {
        if (provider.slowDownPolls > 0) {
          provider.slowDownPolls -= 1;
          return refuse('slow_down');
        }
        return refuse('authorization_pending');
      }
      device.status = 'redeemed';
      return { status: 200, body: await tokens(device.claims!) };
    }
    if (grantType === 'authorization_code') {
      const code = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (!code || code.clientId !== form.get('client_id') || code.redirectUri !== form.get('redirect_uri')) return refuse('invalid_grant');
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== code.codeChallenge) return refuse('invalid_grant');
      return { status: 200, body: await tokens(code.claims) };
    }
    if (grantType === 'refresh_token') {
      const claims = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!claims) return refuse('invalid_grant');
      refreshTokens.delete(form.get('refresh_token') ?? '');
      return { status: 200, body: await tokens(claims) };
    }
    return refuse('unsupported_grant_type');
  }

  function authorizePage(url: URL, response: ServerResponse): void {
    const fields = ['client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope', 'response_type'];
    const hidden = fields.map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(url.searchParams.get(name) ?? '')}">`).join('');
    const who = provider.signedIn ? String(provider.signedIn.name ?? provider.signedIn.sub) : 'nobody';
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><html lang="en"><title>Loopback provider</title><main><h1>Sign in to ${escapeHtml(url.searchParams.get('client_id') ?? '')}</h1>
      <p>Signed in as ${escapeHtml(who)}.</p><form method="post" action="/authorize">${hidden}<button type="submit">Approve</button></form></main></html>`);
  }

  function approveAuthorization(form: URLSearchParams, response: ServerResponse): void {
    const redirectUri = form.get('redirect_uri') ?? '';
    if (form.get('response_type') !== 'code' || form.get('code_challenge_method') !== 'S256' || !form.get('code_challenge') || !provider.signedIn || !URL.canParse(redirectUri)) {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('invalid authorization request');
      return;
    }
    const code = randomBytes(16).toString('base64url');
    codes.set(code, { clientId: form.get('client_id') ?? '', redirectUri, codeChallenge: form.get('code_challenge') ?? '', claims: provider.signedIn });
    const target = new URL(redirectUri);
    target.searchParams.set('code', code);
    target.searchParams.set('state', form.get('state') ?? '');
    response.writeHead(302, { location: target.toString() }).end();
  }

  const server: Server = createServer((request, response) => {
    const json = (body: unknown, status = 200) => {
      // The console posts to the token endpoint from its own origin, as a public client does.
      response.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
      response.end(JSON.stringify(body));
    };
    const url = new URL(request.url ?? '/', provider.issuer);
    const route = `${request.method} ${url.pathname}`;
    if (route === 'GET /.well-known/openid-configuration') {
      return json({
        issuer: provider.issuer,
        jwks_uri: `${provider.issuer}/jwks`,
        authorization_endpoint: `${provider.issuer}/authorize`,
        token_endpoint: `${provider.issuer}/token`,
        device_authorization_endpoint: `${provider.issuer}/device/code`,
        grant_types_supported: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (route === 'GET /jwks') {
      jwksFetches += 1;
      if (provider.failing) return void response.writeHead(500).end();
      return json({ keys: provider.published.map((key) => key.publicJwk) });
    }
    if (route === 'GET /authorize') return authorizePage(url, response);
    if (route === 'POST /authorize') return void formOf(request).then((form) => approveAuthorization(form, response));
    if (route === 'POST /device/code') {
      return void formOf(request).then((form) => {
        const deviceCode = randomBytes(24).toString('base64url');
        const device: DeviceAuthorization = { userCode: userCode(), clientId: form.get('client_id') ?? '', expiresAt: Date.now() + provider.deviceCodeLifetimeSeconds * 1_000, status: 'pending' };
        devices.set(deviceCode, device);
        json({
          device_code: deviceCode,
          user_code: device.userCode,
          verification_uri: `${provider.issuer}/device`,
          verification_uri_complete: `${provider.issuer}/device?user_code=${device.userCode}`,
          expires_in: provider.deviceCodeLifetimeSeconds,
          interval: provider.pollIntervalSeconds,
        });
      });
    }
    if (route === 'POST /token') {
      return void formOf(request).then(async (form) => {
        const answer = await token(form);
        provider.tokenRequests.push({ at: Date.now(), grantType: form.get('grant_type') ?? '', clientId: form.get('client_id') ?? undefined, error: answer.body.error as string | undefined });
        json(answer.body, answer.status);
      });
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
