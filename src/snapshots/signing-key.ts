import type { KeyObject } from 'node:crypto';
import { loadEd25519Key } from '../ed25519-key-file.ts';

const SIGNING_KEY_FILE = 'snapshot-signing-key.pem';

export interface SnapshotSigner {
  privateKey: KeyObject;
  /** SPKI PEM, what `GET /v1/snapshot/public-key` serves and the SDK is configured with. */
  publicKeyPem: string;
}

/**
 * The Ed25519 key that signs snapshots: FLAGS_SNAPSHOT_SIGNING_KEY (a PKCS#8 PEM) when given;
 * otherwise generated once into the data folder (mode 600) and reused by every process and start.
 */
export function loadSnapshotSigner(options: { pem?: string | undefined; dataDir: string }): SnapshotSigner {
  const { privateKey, publicKeyPem } = loadEd25519Key({ ...options, file: SIGNING_KEY_FILE, what: 'snapshot signing key' });
  return { privateKey, publicKeyPem };
}
