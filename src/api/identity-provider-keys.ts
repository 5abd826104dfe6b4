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
      const jwksUrl = this.#options.jwksUrl ?? (await this.#discoverJwksUrl());
      this.#keys = createLocalJWKSet((await this.#getJson(jwksUrl, 'the JWKS')) as never);
      this.#lastFailure = undefined;
    } catch (error) {
      this.#lastFailure = { at: Date.now(), message: (error as Error).message };
      this.#options.log.warn({ err: error, issuer: this.#options.issuer }, 'fetching the identity provider\'s signing keys failed; keeping the keys held');
      throw error;
    }
  }

  async #discoverJwksUrl(): Promise<string> {
    const url = `${this.#options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const document = (await this.#getJson(url, 'the discovery document')) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
    if (document.issuer !== this.#options.issuer) throw new Error(`the discovery document names the issuer ${JSON.stringify(document.issuer)}, not ${this.#options.issuer}`);
    if (typeof document.jwks_uri !== 'string') throw new Error('the discovery document has no jwks_uri');
    return document.jwks_uri;
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
