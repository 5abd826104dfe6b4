import { join } from 'node:path';
import type { Config } from '../config.ts';
import { loadSnapshotSigner, type SnapshotSigner } from './signing-key.ts';
import { createFolderSnapshotStore, createS3SnapshotStore, type SnapshotStore } from './snapshot-store.ts';

/** The signer and store the snapshot publisher uses, from the configuration. */
export function snapshotPublishing(config: Pick<Config, 'dataDir' | 'snapshotSigningKey' | 'snapshotS3' | 'snapshotVersionsKept'>): { signer: SnapshotSigner; store: SnapshotStore } {
  const s3 = config.snapshotS3;
  return {
    signer: loadSnapshotSigner({ pem: config.snapshotSigningKey, dataDir: config.dataDir }),
    store: s3
      ? createS3SnapshotStore({ bucket: s3.bucket, ...(s3.prefix ? { prefix: s3.prefix } : {}), ...(s3.endpoint ? { endpoint: s3.endpoint } : {}), ...(s3.region ? { region: s3.region } : {}), versionsKept: config.snapshotVersionsKept })
      : createFolderSnapshotStore(join(config.dataDir, 'snapshots'), { versionsKept: config.snapshotVersionsKept }),
  };
}
