import { latestSnapshotPublication, recordSnapshotPublication } from '../data/snapshots.ts';
import { loadFlagSetState } from '../data/flag-set-source.ts';
import type { DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';
import { buildSnapshot, SNAPSHOT_WARN_BYTES } from '../snapshots/build-snapshot.ts';
import type { SnapshotSigner } from '../snapshots/signing-key.ts';
import type { SnapshotStore } from '../snapshots/snapshot-store.ts';
import { loadTokenSetState } from '../data/tokens.ts';
import { buildTokenList, tokenListVersion } from '../snapshots/published-read-model.ts';

export interface SnapshotActivityDependencies {
  db: DatabasePool;
  log: Logger;
  signer: SnapshotSigner;
  store: SnapshotStore;
}

export interface PublishedSnapshot {
  version: number;
  etag: string;
  bytes: number;
  location: string;
  /** False when this version was stored already (a retry, or no change since). */
  published: boolean;
}

export function createSnapshotActivities(deps: SnapshotActivityDependencies) {
  /**
   * The live tokens, stored beside the snapshot whenever they changed since the stored list, so an
   * API process that starts while PostgreSQL is down can still authenticate its callers.
   */
  async function publishTokenList(): Promise<void> {
    const state = await loadTokenSetState(deps.db);
    const stored = await deps.store.tokenList();
    const storedVersion = stored ? tokenListVersion(stored.body) : null;
    if (storedVersion !== null && storedVersion >= state.version) return;
    const location = await deps.store.putTokenList(buildTokenList(state, deps.signer, Date.now()));
    deps.log.info({ version: state.version, tokens: state.tokens.length, location }, 'token list published');
  }

  /**
   * The old versioned copies go once a new one is stored. A failure to remove them is logged, not
   * thrown: the publication stands, and the next one tries again.
   */
  async function removeOldVersions(): Promise<void> {
    try {
      const removed = await deps.store.removeOldVersions();
      if (removed > 0) deps.log.info({ removed }, 'old snapshot versions removed');
    } catch (error) {
      deps.log.warn({ err: error }, 'old snapshot versions could not be removed; the next publication tries again');
    }
  }

  return {
    /**
     * Builds the snapshot of the committed flag set (one repeatable-read read), signs and stores it,
     * and records it; first brings the token list up to date. Idempotent per version: a retried or
     * redundant call stores nothing new.
     */
    async publishSnapshot(): Promise<PublishedSnapshot> {
      await publishTokenList();
      const state = await loadFlagSetState(deps.db);
      const latest = await latestSnapshotPublication(deps.db);
      if (latest && latest.version >= state.version) {
        return { version: latest.version, etag: latest.etag, bytes: latest.bytes, location: latest.location, published: false };
      }
      const snapshot = buildSnapshot(
        { version: state.version, flags: state.flags, segments: state.segments, killswitches: state.killswitches },
        deps.signer,
        Date.now(),
      );
      const location = await deps.store.put(snapshot);
      await recordSnapshotPublication(deps.db, { version: snapshot.version, etag: snapshot.etag, bytes: snapshot.body.length, signature: snapshot.signature, location });
      if (snapshot.body.length > SNAPSHOT_WARN_BYTES) deps.log.warn({ bytes: snapshot.body.length }, 'the published snapshot is larger than 5 MB');
      deps.log.info({ version: snapshot.version, bytes: snapshot.body.length, location }, 'snapshot published');
      await removeOldVersions();
      return { version: snapshot.version, etag: snapshot.etag, bytes: snapshot.body.length, location, published: true };
    },
  };
}
