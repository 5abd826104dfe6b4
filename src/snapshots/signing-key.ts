import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SIGNING_KEY_FILE = 'snapshot-signing-key.pem';

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
  let pem = options.pem;
  if (!pem) {
    const path = join(options.dataDir, SIGNING_KEY_FILE);
    if (!existsSync(path)) {
      mkdirSync(options.dataDir, { recursive: true });
      const { privateKey } = generateKeyPairSync('ed25519');
      try {
        writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
        chmodSync(path, 0o600);
      } catch (error) {
        // Another process wrote it first; everyone uses that one.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    pem = readFileSync(path, 'utf8');
  }
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`the snapshot signing key must be Ed25519, not ${privateKey.asymmetricKeyType}`);
  return { privateKey, publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString() };
}
