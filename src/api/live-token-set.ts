import { isDatabaseUnavailable } from '../data/database-errors.ts';
import type { DatabaseStatus } from '../data/database-status.ts';
import type { DatabasePool } from '../data/pool.ts';
import { currentTokenSetVersion, loadTokenSetState, tokenSetChangesSince, type LiveToken, type TokenSetState } from '../data/tokens.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import { CatchUp } from './catch-up.ts';
import { type Principal, toPrincipal } from './principal.ts';

export interface LiveTokenSetOptions {
  db: DatabasePool;
  log: Logger;
  databaseStatus: DatabaseStatus;
  changeFeed?: ChangeFeed | undefined;
  checkIntervalMs?: number | undefined;
}

/**
 * Every live token of the service in memory, by the SHA-256 of its secret, so authenticating a
 * request never waits on the database. Kept current the way the flag set is (see CatchUp): token
 * events through LISTEN/NOTIFY and the outbox, and a periodic version check, so a token revoked on
 * one API process stops working on every other within a second, and on the revoking one at once.
 * A token revoked here never comes back: a catch-up that read its row just before the revocation
 * committed cannot re-add it; the id is remembered until a catch-up has read the row as revoked.
 */
export class LiveTokenSet {
  readonly #byHash = new Map<string, Principal>();
  readonly #hashById = new Map<string, string>();
  /** Tokens this process revoked that no catch-up has yet read as revoked. */
  readonly #revokedHere = new Set<string>();
  #version: number;
  #fromDatabase: boolean;
  #changeCount = 0;
  readonly #options: LiveTokenSetOptions;
  readonly #catchUp: CatchUp;

  private constructor(options: LiveTokenSetOptions, state: TokenSetState, fromDatabase: boolean) {
    this.#options = options;
    this.#version = state.version;
    this.#fromDatabase = fromDatabase;
    for (const token of state.tokens) this.#add(token);
    this.#catchUp = new CatchUp({
      name: 'token set',
      log: options.log,
      databaseStatus: options.databaseStatus,
      changeFeed: options.changeFeed,
      wakesOn: (type) => type.startsWith('token.'),
      checkIntervalMs: options.checkIntervalMs ?? 1_000,
      newestVersion: () => currentTokenSetVersion(options.db),
      heldVersion: () => this.#version,
      apply: () => (this.#fromDatabase ? this.#applyChangesSinceVersion() : this.#reload()),
      startsStale: !fromDatabase,
    });
  }

  /**
   * Loads the tokens from the database; when it cannot be reached, from `fallback` (the token list
   * published beside the snapshot), replaced whole once the database answers.
   */
  static async open(options: LiveTokenSetOptions & { fallback?: () => Promise<TokenSetState | null> }): Promise<LiveTokenSet> {
    try {
      return new LiveTokenSet(options, await loadTokenSetState(options.db), true);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      options.databaseStatus.unreachable(error, 'loading the token set');
    }
    const published = await options.fallback?.();
    if (!published) options.log.warn('PostgreSQL cannot be reached and no published token list was found: every request is unauthenticated until PostgreSQL answers');
    else options.log.warn({ tokens: published.tokens.length, version: published.version }, 'PostgreSQL cannot be reached: authenticating with the last published token list until it can');
    return new LiveTokenSet(options, published ?? { version: 0, tokens: [] }, false);
  }

  /** The principal of a live token, by the SHA-256 (hex) of its secret. */
  lookup(tokenHash: string): Principal | undefined {
    return this.#byHash.get(tokenHash);
  }

  /**
   * A live token by its id, with the SHA-256 of its secret: a key only this service holds, which
   * signs links made for that token (an OFREP event stream's URL) without putting the secret in them.
   */
  byId(tokenId: string): { principal: Principal; tokenHash: string } | undefined {
    const tokenHash = this.#hashById.get(tokenId);
    const principal = tokenHash === undefined ? undefined : this.#byHash.get(tokenHash);
    return principal && tokenHash !== undefined ? { principal, tokenHash } : undefined;
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** The outbox id of the newest token event applied. */
  get version(): number {
    return this.#version;
  }

  /** Goes up whenever a token comes or goes: a cache of authentication results keys on it. */
  get changeCount(): number {
    return this.#changeCount;
  }

  get stale(): boolean {
    return this.#catchUp.stale;
  }

  get confirmedAt(): number {
    return this.#catchUp.confirmedAt;
  }

  /** Read-your-write: a token this process has just created works here before the answer leaves. */
  created(token: LiveToken): void {
    this.#add(token);
    this.#changeCount += 1;
  }

  /** Read-your-write: a token this process has just revoked stops working here at once. */
  revoked(tokenId: string): void {
    this.#revokedHere.add(tokenId);
    this.#remove(tokenId);
    this.#changeCount += 1;
  }

  refresh(): Promise<void> {
    return this.#catchUp.refresh();
  }

  check(): Promise<void> {
    return this.#catchUp.check();
  }

  #add(token: LiveToken): void {
    if (this.#revokedHere.has(token.id)) return;
    const previous = this.#hashById.get(token.id);
    if (previous !== undefined) this.#byHash.delete(previous);
    this.#hashById.set(token.id, token.tokenHash);
    this.#byHash.set(token.tokenHash, toPrincipal(token));
  }

  #remove(tokenId: string): void {
    const hash = this.#hashById.get(tokenId);
    if (hash === undefined) return;
    this.#hashById.delete(tokenId);
    this.#byHash.delete(hash);
  }

  async #applyChangesSinceVersion(): Promise<void> {
    const changes = await tokenSetChangesSince(this.#options.db, this.#version);
    if (changes.version <= this.#version) return;
    for (const id of changes.revoked) {
      this.#remove(id);
      // Read as revoked: every later catch-up reads it so, and it cannot come back.
      this.#revokedHere.delete(id);
    }
    for (const token of changes.live) this.#add(token);
    this.#version = changes.version;
    this.#changeCount += 1;
  }

  /** Replaces a published list with the database's whole, once it answers. */
  async #reload(): Promise<void> {
    const state = await loadTokenSetState(this.#options.db);
    this.#byHash.clear();
    this.#hashById.clear();
    for (const token of state.tokens) this.#add(token);
    this.#version = state.version;
    this.#fromDatabase = true;
    this.#changeCount += 1;
  }

  close(): void {
    this.#catchUp.close();
  }
}
