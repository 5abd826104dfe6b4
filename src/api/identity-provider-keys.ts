import { createLocalJWKSet, errors, type FlattenedJWSInput, type JWSHeaderParameters, type LocalJWKSet } from 'jose';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { OutboundClient } from '../outbound/outbound-client.ts';

export interface IdentityProviderKeysOptions {
  /** The `iss` the provider's tokens carry; also where discovery looks (`<issuer>/.well-known/openid-configuration`). */
  issuer: string;
  /** The JWKS itself, when the provider has no discovery document or the operator pins it. */
  jwksUrl: string | undefined;
  /** Every fetch goes through the outbound policy, like gates and webhooks. */
  outbound: Pick<OutboundClient, 'request'>;
  log: Logger;
  /** The key set is fetched again this often, so keys the provider retires stop working. */
  refreshMs: number;
  /** Read the discovery document even with a pinned JWKS: people sign in through the endpoints it names. */
  readsEndpoints?: boolean;
}

/** Where the provider signs people in, as its discovery document names them (each only if it names it). */
export interface ProviderEndpoints {
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  deviceAuthorizationEndpoint?: string;
}

const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 512 * 1024;
/** A token naming an unknown key fetches the set again at most once per this long. */
const UNKNOWN_KEY_COOLDOWN_MS = 30_000;
/** Without any key, a JWT fetches the set at most once per this long after a failed fetch. */
const RETRY_AFTER_FAILURE_MS = 5_000;

/**
 * The identity provider's signing keys, held in memory. They are fetched at start and then on a
 * schedule; a token signed with a key the set does not hold (the provider rotated) fetches them
 * again, but at most once per cooldown, so a stream of tokens with made-up key ids costs the
 * provider one request per cooldown, not one each. A verification never waits on the network
 * otherwise.
 */
export class IdentityProviderKeys {
  readonly #options: IdentityProviderKeysOptions;
  #keys: LocalJWKSet | undefined;
  #endpoints: ProviderEndpoints | undefined;
  #fetching: Promise<void> | undefined;
  #lastUnknownKeyFetchAt = Number.NEGATIVE_INFINITY;
  #lastFailure: { at: number; message: string } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: IdentityProviderKeysOptions) {
    this.#options = options;
  }

  /** Fetches the keys in the background and keeps them fresh; a provider down at start delays only the first JWT. */
  start(): void {
    void this.refresh().catch(() => undefined);
    this.#timer = setInterval(() => void this.refresh().catch(() => undefined), this.#options.refreshMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** Fetches the key set now (one fetch at a time; callers meanwhile share it). */
  refresh(): Promise<void> {
    this.#fetching ??= this.#fetch().finally(() => {
      this.#fetching = undefined;
    });
    return this.#fetching;
  }

  /** The sign-in endpoints as last discovered; undefined until discovery has succeeded once. */
  get knownEndpoints(): ProviderEndpoints | undefined {
    return this.#endpoints;
  }

  /**
   * The sign-in endpoints, discovering them now if no fetch has succeeded yet (at most once per few
   * seconds after a failure, as for keys); undefined while the provider cannot be reached.
   */
  async endpoints(): Promise<ProviderEndpoints | undefined> {
    if (this.#endpoints) return this.#endpoints;
    // Not read with a pinned JWKS and no sign-in client: asking would only fetch the keys again, on
    // a route anyone may call.
    if (this.#options.jwksUrl !== undefined && !this.#options.readsEndpoints) return undefined;
    const failure = this.#lastFailure;
    if (failure && Date.now() - failure.at < RETRY_AFTER_FAILURE_MS) return undefined;
    await this.refresh().catch(() => undefined);
    return this.#endpoints;
  }

  /** jose's key resolver: the key the token's header names, fetching the set again for an unknown one. */
  readonly resolve = async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (!this.#keys) await this.#refreshForVerification();
    try {
      return await this.#keys!(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      const now = Date.now();
      if (now - this.#lastUnknownKeyFetchAt < UNKNOWN_KEY_COOLDOWN_MS) throw error;
      this.#lastUnknownKeyFetchAt = now;
      await this.#refreshForVerification();
      return this.#keys!(header, token);
    }
  };

  async #refreshForVerification(): Promise<void> {
    // Without any key nothing can be verified: the provider is the dependency that is down. A flood of
    // JWTs meanwhile asks it once per few seconds, not once each. With the keys held, an unknown key
    // is the token's problem.
    const failure = this.#lastFailure;
    if (!this.#keys && failure && Date.now() - failure.at < RETRY_AFTER_FAILURE_MS) throw keysUnavailable(failure.message);
    try {
      await this.refresh();
    } catch (error) {
      if (!this.#keys) throw keysUnavailable((error as Error).message);
    }
  }

  async #fetch(): Promise<void> {
    try {
      const discovered = this.#options.jwksUrl === undefined || this.#options.readsEndpoints ? await this.#discover() : undefined;
      const jwksUrl = this.#options.jwksUrl ?? discovered?.jwksUri;
      if (jwksUrl === undefined) throw new Error('the discovery document has no jwks_uri');
      this.#keys = createLocalJWKSet((await this.#getJson(jwksUrl, 'the JWKS')) as never);
      if (discovered) this.#endpoints = discovered.endpoints;
      this.#lastFailure = undefined;
    } catch (error) {
      this.#lastFailure = { at: Date.now(), message: (error as Error).message };
      this.#options.log.warn({ err: error, issuer: this.#options.issuer }, 'fetching the identity provider\'s signing keys failed; keeping the keys held');
      throw error;
    }
  }

  async #discover(): Promise<{ jwksUri: string | undefined; endpoints: ProviderEndpoints }> {
    const url = `${this.#options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const document = (await this.#getJson(url, 'the discovery document')) as Record<string, unknown>;
    // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
    if (document.issuer !== this.#options.issuer) throw new Error(`the discovery document names the issuer ${JSON.stringify(document.issuer)}, not ${this.#options.issuer}`);
    // Clients are sent to these addresses: only absolute http(s) URLs are passed on.
    const endpoint = (name: string) => {
      const value = document[name];
      return typeof value === 'string' && URL.canParse(value) && /^https?:$/.test(new URL(value).protocol) ? value : undefined;
    };
    const endpoints: ProviderEndpoints = {};
    const authorization = endpoint('authorization_endpoint');
    const token = endpoint('token_endpoint');
    const device = endpoint('device_authorization_endpoint');
    if (authorization) endpoints.authorizationEndpoint = authorization;
    if (token) endpoints.tokenEndpoint = token;
    if (device) endpoints.deviceAuthorizationEndpoint = device;
    return { jwksUri: endpoint('jwks_uri'), endpoints };
  }

  async #getJson(url: string, what: string): Promise<unknown> {
    const response = await this.#options.outbound.request(url, { method: 'GET', headers: { accept: 'application/json' }, timeoutMs: FETCH_TIMEOUT_MS, maxBodyBytes: MAX_DOCUMENT_BYTES });
    if (response.status !== 200) throw new Error(`${what} answered ${response.status}`);
    try {
      return JSON.parse(response.body.toString('utf8'));
    } catch {
      throw new Error(`${what} is not JSON`);
    }
  }
}

function keysUnavailable(reason: string): AppError {
  return new AppError('unavailable', `the identity provider's signing keys could not be fetched: ${reason}`);
}
