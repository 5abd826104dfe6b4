import { createHash, createHmac, hkdfSync, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
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
  /**
   * Seals an entry's content as its write inserts it, before it has an id or a place in the chain
   * (sql/020), bound to the inserting transaction (its txid_current(), which a trigger stores in the
   * row), so that a copy of the row inserted by anyone else does not verify: the sequencer chains and signs only entries
   * whose seal `verifyPending` accepts. Only holders of the audit key make and check seals, so an
   * HMAC with a key derived from it does: a hundredth of an Ed25519 signature's and verification's
   * cost, on every write.
   */
  signPending(transactionId: number, content: string): string;
  verifyPending(transactionId: number, content: string, seal: string): boolean;
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
  const sealKey = Buffer.from(hkdfSync('sha256', privateKey.export({ type: 'pkcs8', format: 'der' }), '', 'flags-audit-pending-seal', 32));
  const seal = (transactionId: number, content: string) => createHmac('sha256', sealKey).update(`${transactionId}\n${content}`).digest();
  return {
    ...verifierFor(publicKey),
    signEntry: (id, hash) => sign(null, entryMessage(id, hash), privateKey).toString('base64'),
    signCheckpoint: (content) => sign(null, checkpointMessage(content), privateKey).toString('base64'),
    signPending: (transactionId, content) => seal(transactionId, content).toString('base64'),
    verifyPending: (transactionId, content, given) => {
      const expected = seal(transactionId, content);
      const actual = Buffer.from(given, 'base64');
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
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

