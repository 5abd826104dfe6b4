import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Ed25519Key {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM: what verifiers are given. */
  publicKeyPem: string;
}

/**
 * An Ed25519 signing key: `pem` (PKCS#8) when given; otherwise generated once into `dataDir/file`
 * (mode 600) and reused by every process and start. `what` names the key in errors.
 */
export function loadEd25519Key(options: { pem?: string | undefined; dataDir: string; file: string; what: string }): Ed25519Key {
  let pem = options.pem;
  if (!pem) {
    const path = join(options.dataDir, options.file);
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
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`the ${options.what} must be Ed25519, not ${privateKey.asymmetricKeyType}`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}
