// Signing in with the company's identity provider: the authorization code grant with PKCE (RFC 7636),
// the console being a public client (no secret; the code verifier proves the code was asked for by
// this tab). The provider redirects back to /ui/ with `code` and `state`; the code is exchanged at its
// token endpoint from the page, which the page's Content-Security-Policy allows for that origin only.
// The access token is then kept exactly as a pasted token is (api.js).

const PENDING_KEY = 'flagship.console.provider-sign-in';

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

function redirectUri() {
  return new URL('/ui/', location.href).toString();
}

/** Whether the service offers the console a provider sign-in it can use now. */
export function providerSignInOffered(provider) {
  return Boolean(provider?.console && provider.authorizationEndpoint && provider.tokenEndpoint);
}

/** Sends the tab to the provider's authorization page; it comes back to /ui/ (finishProviderSignIn). */
export async function startProviderSignIn(provider) {
  const verifier = randomText();
  const state = randomText();
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  // The tab's own storage: another tab cannot finish this sign-in, and a closed tab forgets it.
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, tokenEndpoint: provider.tokenEndpoint, clientId: provider.console.clientId, returnTo: location.hash }));
  const target = new URL(provider.authorizationEndpoint);
  for (const [name, value] of Object.entries({
    response_type: 'code',
    client_id: provider.console.clientId,
    redirect_uri: redirectUri(),
    scope: provider.scopes,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })) target.searchParams.set(name, value);
  location.assign(target.toString());
}

/**
 * On the way back from the provider: exchanges the code for an access token, or says why there is
 * none. Answers `null` when this load is not a return from the provider, else `{ token }` or
 * `{ problem }`. The code and state leave the address bar either way.
 */
export async function finishProviderSignIn() {
  const answer = new URLSearchParams(location.search);
  if (!answer.has('code') && !answer.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(null, '', `${location.pathname}${pending?.returnTo ?? ''}`);
  // A state that is not this tab's own is someone else's sign-in pushed into it (RFC 6749 §10.12).
  if (!pending || answer.get('state') !== pending.state) return { problem: 'The sign-in came back without this tab having asked for it; start it again.' };
  if (answer.has('error')) return { problem: `The identity provider did not sign you in: ${answer.get('error_description') ?? answer.get('error')}.` };
  let response;
  try {
    response = await fetch(pending.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: answer.get('code'), redirect_uri: redirectUri(), client_id: pending.clientId, code_verifier: pending.verifier }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    return { problem: 'The identity provider\'s token endpoint could not be reached.' };
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.access_token !== 'string') return { problem: `The identity provider refused the sign-in: ${body.error_description ?? body.error ?? `HTTP ${response.status}`}.` };
  return { token: body.access_token };
}
