import { latestSnapshotPublication, recordSnapshotPublication } from '../data/snapshots.ts';
import { loadFlagSetState } from '../data/flag-set-source.ts';
import type { DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';
import { buildSnapshot, SNAPSHOT_WARN_BYTES } from '../snapshots/build-snapshot.ts';
import type { SnapshotSigner } from '../snapshots/signing-key.ts';
import type { SnapshotStore } from '../snapshots/snapshot-store.ts';

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
  return {
    /**
     * Builds the snapshot of the committed flag set (one repeatable-read read), signs and stores it,
     * and records it. Idempotent per version: a retried or redundant call stores nothing new.
     */
    async publishSnapshot(): Promise<PublishedSnapshot> {
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
      return { version: snapshot.version, etag: snapshot.etag, bytes: snapshot.body.length, location, published: true };
    },
  };
}
