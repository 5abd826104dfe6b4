import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { FlagSetState } from '../data/flag-set-source.ts';
import { liveTokenSchema, type LiveToken, type TokenSetState } from '../data/tokens.ts';
import type { Logger } from '../log.ts';
import { verifySnapshot } from '@flagship/sdk';
import type { SnapshotSigner } from './signing-key.ts';
import type { SignedDocument, SnapshotStore } from './snapshot-store.ts';

/**
 * What an API process needs to serve evaluations when it starts while PostgreSQL is down: the flag
 * set of the last published snapshot and the live tokens, both read from the snapshot store and
 * believed only once their Ed25519 signature holds (a store that anyone else can write cannot give
 * a process flags or tokens of its choosing).
 */

const tokenListSchema = z.object({
  version: z.number().int().nonnegative(),
  generatedAt: z.string(),
  tokens: z.array(liveTokenSchema),
});

/**
 * The live tokens as the token list document carries them: ids, names, scopes, project limits and
 * the SHA-256 of each secret, never a secret. Signed like a snapshot.
 */
export function buildTokenList(state: TokenSetState, signer: SnapshotSigner, now: number): SignedDocument {
  const document: z.infer<typeof tokenListSchema> = {
    version: state.version,
    generatedAt: new Date(now).toISOString(),
    tokens: [...state.tokens].sort((a, b) => (a.id < b.id ? -1 : 1)).map(withoutContextSigningSecret),
  };
  const body = Buffer.from(JSON.stringify(document));
  return { version: state.version, body, signature: sign(null, body, signer.privateKey).toString('base64') };
}

/**
 * A published list leaves the database's protection (a folder, a bucket): it says that a token
 * requires signed contexts, never with which secret. A process started from it refuses those
 * tokens' evaluations until PostgreSQL answers, rather than accepting unsigned ones.
 */
function withoutContextSigningSecret(token: LiveToken): LiveToken {
  const published: LiveToken = { ...token };
  delete published.contextSigningSecret;
  if (!published.signedContext) delete published.signedContext;
  return published;
}

/** The version of a token list (already verified or not); null when it cannot be read. */
export function tokenListVersion(body: Buffer): number | null {
  const parsed = tokenListSchema.pick({ version: true }).safeParse(safeJson(body));
  return parsed.success ? parsed.data.version : null;
}

function safeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
}

/** The flag set of the newest published snapshot; null when none is stored, it cannot be read, or its signature fails. */
export async function readPublishedFlagSet(store: SnapshotStore, publicKey: KeyObject, log: Logger): Promise<FlagSetState | null> {
  try {
    const stored = await store.latest();
    if (!stored) return null;
    const { document } = verifySnapshot(stored.body, stored.signature, null, publicKey);
    return { version: document.version, flags: document.flags, segments: document.segments, killswitches: new Set(document.killswitches) };
  } catch (error) {
    log.warn({ err: error }, 'the published snapshot cannot be used');
    return null;
  }
}

/** The published token list; null when none is stored, it cannot be read, or its signature fails. */
export async function readPublishedTokenList(store: SnapshotStore, publicKey: KeyObject, log: Logger): Promise<TokenSetState | null> {
  try {
    const stored = await store.tokenList();
    if (!stored) return null;
    if (!verify(null, stored.body, publicKey, Buffer.from(stored.signature.trim(), 'base64'))) {
      log.warn('the published token list does not verify with the snapshot signing key: not used');
      return null;
    }
    const list = tokenListSchema.parse(JSON.parse(stored.body.toString('utf8')));
    return { version: list.version, tokens: list.tokens };
  } catch (error) {
    log.warn({ err: error }, 'the published token list cannot be used');
    return null;
  }
}
