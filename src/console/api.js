// The console talks to the public HTTP API only, with the token its user signed in with. The token
// is kept in sessionStorage (this tab only, gone when it closes) and sent as a bearer header: no
// cookie exists, so no other site can make the browser send a request that carries it.

const TOKEN_KEY = 'flagship.console.token';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `the API answered ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body?.error?.code ?? 'internal';
    this.details = body?.error?.details;
  }
}

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  store: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

let refused = () => {};

/** Called when the API refuses the token (revoked, or the service's tokens were reset). */
export function onTokenRefused(listener) {
  refused = listener;
}

/** `?a=1&b=2` from the defined, non-empty entries of `params`. */
export function queryString(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * One API call: JSON in and out. Errors (and 202 approval_required, which answers with the error
 * body naming the change request) are thrown as ApiError with the contract's code.
 */
export async function api(method, path, { body, headers = {}, signal, token = session.token() } = {}) {
  const response = await fetch(path, {
    method,
    headers: {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: 'omit',
    cache: 'no-store',
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: { code: 'internal', message: `the API answered ${response.status} with something that is not JSON` } };
  }
  if (response.status === 401) refused(parsed?.error?.message);
  if (!response.ok || parsed?.error) throw new ApiError(response.status, parsed);
  return parsed;
}

/** `feature_flag:admin` holds every other scope, as on the server. */
export function hasScope(me, scope) {
  return Boolean(me) && (me.scopes.includes(scope) || me.scopes.includes('feature_flag:admin'));
}
