import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { loadEd25519Key } from '../ed25519-key-file.ts';

const AUDIT_SIGNING_KEY_FILE = 'audit-signing-key.pem';

/**
 * Checks what the audit signer signed, with its public key only: an auditor can verify the log and
 * its checkpoints without being able to sign anything.
 */
export interface AuditVerifier {
  /** The first 16 hex digits of the SHA-256 of the public key (SPKI DER): which key signed. */
  keyId: string;
  publicKeyPem: string;
  verifyEntry(id: number, hash: string, signature: string): boolean;
  verifyCheckpoint(content: string, signature: string): boolean;
}

/**
 * Signs each audit entry's chain hash and the checkpoints of the chain's head with an Ed25519 key the
 * database never holds, so whoever can rewrite the table can still not make a rewritten or appended
 * entry verify. Held by every process that writes audit entries (API and worker).
 */
export interface AuditSigner extends AuditVerifier {
  signEntry(id: number, hash: string): string;
  signCheckpoint(content: string): string;
}

// Distinct prefixes: an entry's signature can never pass for a checkpoint's, nor the other way round.
const entryMessage = (id: number, hash: string) => Buffer.from(`flags-audit-entry\n${id}\n${hash}`);
const checkpointMessage = (content: string) => Buffer.from(`flags-audit-checkpoint\n${content}`);

function verifierFor(publicKey: KeyObject): AuditVerifier {
  const keyId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
  const check = (message: Buffer, signature: string) => {
    try {
      return verify(null, message, publicKey, Buffer.from(signature, 'base64'));
    } catch {
      // A signature that is not even well-formed is simply not valid.
      return false;
    }
  };
  return {
    keyId,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    verifyEntry: (id, hash, signature) => check(entryMessage(id, hash), signature),
    verifyCheckpoint: (content, signature) => check(checkpointMessage(content), signature),
  };
}

/**
 * The key that signs the audit log: FLAGS_AUDIT_SIGNING_KEY (a PKCS#8 PEM) when given; otherwise
 * generated once into the data folder (mode 600), shared by the API and the worker.
 */
export function loadAuditSigner(options: { pem?: string | undefined; dataDir: string }): AuditSigner {
  const { privateKey, publicKey } = loadEd25519Key({ ...options, file: AUDIT_SIGNING_KEY_FILE, what: 'audit signing key' });
  return {
    ...verifierFor(publicKey),
    signEntry: (id, hash) => sign(null, entryMessage(id, hash), privateKey).toString('base64'),
    signCheckpoint: (content) => sign(null, checkpointMessage(content), privateKey).toString('base64'),
  };
}

/**
 * The signer of each pool, and of each transaction opened on it (see inWriteTransaction): every
 * audit entry written through a pool is signed with the key it was opened with. A pool opened
 * without one may read, but appending an audit entry through it fails.
 */
const signers = new WeakMap<object, AuditSigner>();

export function useAuditSigner(connection: object, signer: AuditSigner): void {
  signers.set(connection, signer);
}

export function auditSignerOf(connection: object): AuditSigner | undefined {
  return signers.get(connection);
}

