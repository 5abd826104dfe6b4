import { CliError, EXIT } from './exit-codes.ts';

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const REQUEST_TIMEOUT_MS = 30_000;
/** RFC 8628 §3.2: without an `interval`, poll every 5 s; §3.5: `slow_down` adds 5 s for good. */
const DEFAULT_INTERVAL_SECONDS = 5;
const SLOW_DOWN_SECONDS = 5;
/** A token this close to its expiry is refreshed before it is sent, so it does not expire on the way. */
const EXPIRY_MARGIN_MS = 30_000;

/** `GET /v1/auth/config`'s identity provider: where and as which client the CLI signs people in. */
export interface IdentityProviderSignIn {
  issuer: string;
  scopes: string;
  tokenEndpoint: string | null;
  deviceAuthorizationEndpoint: string | null;
  cli: { clientId: string } | null;
}

/** What the profile keeps of a sign-in: the access token, and how to get the next one. */
export interface SignedIn {
  accessToken: string;
  /** When the access token expires (ISO 8601), if the provider said. */
  expiresAt?: string;
  refresh?: { refreshToken: string; tokenEndpoint: string; clientId: string };
}

/** The service's sign-in configuration; null from a service too old to have one. */
export async function readAuthConfig(serviceUrl: string): Promise<IdentityProviderSignIn | null> {
  const response = await send(`${serviceUrl}/v1/auth/config`, { headers: { accept: 'application/json' } }, serviceUrl);
  if (response.status === 404) return null;
  if (!response.ok) throw new CliError(`${serviceUrl}/v1/auth/config answered ${response.status}`);
  return ((await response.json()) as { identityProvider: IdentityProviderSignIn | null }).identityProvider;
}

/**
 * Signs a person in with the device authorization grant (RFC 8628): asks the provider for a code,
 * tells the person where to enter it, and polls the token endpoint until they approve, refuse, or
 * the code expires, at the provider's pace.
 */
export async function deviceLogin(provider: IdentityProviderSignIn & { cli: { clientId: string } }, tell: (line: string) => void): Promise<SignedIn> {
  const endpoints = await providerEndpoints(provider);
  const clientId = provider.cli.clientId;
  const started = await postForm(endpoints.deviceAuthorizationEndpoint, { client_id: clientId, scope: provider.scopes });
  if (started.status !== 200) throw new CliError(`the identity provider refused to start a sign-in: ${oauthError(started.body)}`, EXIT.unauthorized);
  const authorization = started.body as { device_code?: unknown; user_code?: unknown; verification_uri?: unknown; verification_uri_complete?: unknown; expires_in?: unknown; interval?: unknown };
  if (typeof authorization.device_code !== 'string' || typeof authorization.user_code !== 'string' || typeof authorization.verification_uri !== 'string') {
    throw new CliError('the identity provider\'s device authorization answer lacks device_code, user_code or verification_uri');
  }
  tell(`To sign in, open ${authorization.verification_uri} and enter the code ${authorization.user_code}`);
  if (typeof authorization.verification_uri_complete === 'string') tell(`(or open ${authorization.verification_uri_complete})`);
  tell('Waiting for the sign-in to be approved…');

  let intervalMs = (typeof authorization.interval === 'number' && authorization.interval > 0 ? authorization.interval : DEFAULT_INTERVAL_SECONDS) * 1_000;
  const expiresAt = typeof authorization.expires_in === 'number' ? Date.now() + authorization.expires_in * 1_000 : Number.POSITIVE_INFINITY;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    const polled = await postForm(endpoints.tokenEndpoint, { grant_type: DEVICE_CODE_GRANT, device_code: authorization.device_code, client_id: clientId });
    if (polled.status === 200) return signedIn(polled.body, endpoints.tokenEndpoint, clientId);
    const error = (polled.body as { error?: unknown } | null)?.error;
    if (error === 'authorization_pending' || error === 'slow_down') {
      if (error === 'slow_down') intervalMs += SLOW_DOWN_SECONDS * 1_000;
      // The provider says expired_token once the code has expired; a provider that keeps saying
      // "pending" past the lifetime it gave is not polled for ever.
      if (Date.now() >= expiresAt) throw codeExpired();
      continue;
    }
    if (error === 'access_denied') throw new CliError('the sign-in was refused at the identity provider; nothing was stored', EXIT.unauthorized);
    if (error === 'expired_token') throw codeExpired();
    throw new CliError(`the identity provider refused the sign-in: ${oauthError(polled.body)}`, EXIT.unauthorized);
  }
}

/** The stored access token, refreshed first when it has expired (or is about to) and a refresh token is held. */
export async function currentAccessToken(stored: SignedIn, profile: string, store: (renewed: SignedIn) => void): Promise<string> {
  if (!stored.refresh || !stored.expiresAt || Date.parse(stored.expiresAt) - EXPIRY_MARGIN_MS > Date.now()) return stored.accessToken;
  const { refreshToken, tokenEndpoint, clientId } = stored.refresh;
  const answer = await postForm(tokenEndpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });
  if (answer.status !== 200) throw new CliError(`the sign-in of profile "${profile}" has expired (${oauthError(answer.body)}); run flagship login again`, EXIT.unauthorized);
  const renewed = signedIn(answer.body, tokenEndpoint, clientId);
  // A provider that does not rotate refresh tokens answers none: the one held stays good.
  if (!renewed.refresh) renewed.refresh = stored.refresh;
  store(renewed);
  return renewed.accessToken;
}

async function providerEndpoints(provider: IdentityProviderSignIn): Promise<{ deviceAuthorizationEndpoint: string; tokenEndpoint: string }> {
  // The provider's own discovery document is the authority; the service's copy stands in when this
  // machine cannot read it.
  let document: Record<string, unknown> = {};
  try {
    const response = await send(`${provider.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } }, provider.issuer);
    if (response.ok) document = (await response.json()) as Record<string, unknown>;
  } catch {
    // Unreachable from here: the endpoints the service discovered are used.
  }
  const device = typeof document.device_authorization_endpoint === 'string' ? document.device_authorization_endpoint : provider.deviceAuthorizationEndpoint;
  const token = typeof document.token_endpoint === 'string' ? document.token_endpoint : provider.tokenEndpoint;
  if (!device || !token) throw new CliError(`the identity provider ${provider.issuer} names no device authorization endpoint: it does not offer the device flow; log in with a token`, EXIT.unauthorized);
  return { deviceAuthorizationEndpoint: device, tokenEndpoint: token };
}

function signedIn(body: unknown, tokenEndpoint: string, clientId: string): SignedIn {
  const tokens = body as { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown };
  if (typeof tokens.access_token !== 'string') throw new CliError('the identity provider\'s token answer has no access_token');
  return {
    accessToken: tokens.access_token,
    ...(typeof tokens.expires_in === 'number' ? { expiresAt: new Date(Date.now() + tokens.expires_in * 1_000).toISOString() } : {}),
    ...(typeof tokens.refresh_token === 'string' ? { refresh: { refreshToken: tokens.refresh_token, tokenEndpoint, clientId } } : {}),
  };
}

function codeExpired(): CliError {
  return new CliError('the sign-in code expired before it was approved; run flagship login again', EXIT.unauthorized);
}

function oauthError(body: unknown): string {
  const { error, error_description: description } = (body ?? {}) as { error?: unknown; error_description?: unknown };
  if (typeof error !== 'string') return 'no OAuth error in the answer';
  return typeof description === 'string' ? `${error}: ${description}` : error;
}

async function postForm(url: string, fields: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const response = await send(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams(fields).toString() }, new URL(url).origin);
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: null };
  }
}

async function send(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach ${what}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
}
