import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BOOTSTRAP_FORMAT, type BootstrapDocument, type BootstrapSource, type SdkErrorCode, type SnapshotDocument } from './types.ts';

/** A snapshot that cannot be used, with the reason as one of the client's error codes. */
export class SnapshotError extends Error {
  readonly code: SdkErrorCode;

  constructor(code: SdkErrorCode, message: string) {
    super(message);
    this.name = 'SnapshotError';
    this.code = code;
  }
}

/** Parses the configured key once; a wrong key is a configuration error, thrown at `createClient`. */
export function loadPublicKey(key: string | KeyObject): KeyObject {
  const publicKey = typeof key === 'string' ? createPublicKey(key) : key;
  if (publicKey.type !== 'public' || publicKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`publicKey must be an Ed25519 public key (SPKI PEM from GET /v1/snapshot/public-key), not ${publicKey.type} ${publicKey.asymmetricKeyType ?? ''}`.trim());
  }
  return publicKey;
}

/** A verified snapshot, with the bytes it came from so it can be saved as a bootstrap. */
export interface VerifiedSnapshot {
  document: SnapshotDocument;
  bytes: Uint8Array;
  signature: string;
  etag: string | null;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Checks the Ed25519 signature over the exact bytes, then the document's shape. Nothing in the
 * bytes is trusted before the signature holds; the shape check only guards against a signed
 * document this SDK cannot read (a newer format).
 */
export function verifySnapshot(bytes: Uint8Array, signature: string | null, etag: string | null, publicKey: KeyObject): VerifiedSnapshot {
  if (!signature) throw new SnapshotError('signature', 'the snapshot has no X-Flags-Signature');
  const trimmed = signature.trim();
  if (!BASE64.test(trimmed)) throw new SnapshotError('signature', 'the snapshot signature is not base64');
  if (!verify(null, bytes, publicKey, Buffer.from(trimmed, 'base64'))) {
    throw new SnapshotError('signature', 'the snapshot signature does not verify with the configured public key');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new SnapshotError('malformed', `the signed snapshot is not JSON: ${(error as Error).message}`);
  }
  return { document: checkShape(parsed), bytes, signature: trimmed, etag };
}

function checkShape(value: unknown): SnapshotDocument {
  const document = value as Partial<SnapshotDocument> | null;
  if (
    typeof document !== 'object' || document === null ||
    !Number.isSafeInteger(document.version) || (document.version as number) < 0 ||
    !Array.isArray(document.flags) || !Array.isArray(document.segments) || !Array.isArray(document.killswitches) ||
    !document.killswitches.every((category) => typeof category === 'string') ||
    !document.flags.every((flag) => typeof flag === 'object' && flag !== null && typeof flag.key === 'string') ||
    !document.segments.every((segment) => typeof segment === 'object' && segment !== null && typeof segment.key === 'string')
  ) {
    throw new SnapshotError('malformed', 'the signed snapshot does not have the expected shape { version, flags[], segments[], killswitches[] }');
  }
  return { generatedAt: '', ...document } as SnapshotDocument;
}

/** Reads a bootstrap from any of its forms into bytes, signature and ETag (not yet verified). */
export function readBootstrap(source: BootstrapSource): { bytes: Uint8Array; signature: string; etag: string | null } {
  if (typeof source === 'object' && 'snapshot' in source) {
    const bytes = typeof source.snapshot === 'string' ? Buffer.from(source.snapshot, 'utf8') : source.snapshot;
    return { bytes, signature: source.signature, etag: source.etag ?? null };
  }
  let text: string;
  if (typeof source === 'string') {
    text = source;
  } else {
    try {
      text = readFileSync(source.path, 'utf8');
    } catch (error) {
      throw new SnapshotError('bootstrap', `the bootstrap file ${source.path} cannot be read: ${(error as Error).message}`);
    }
  }
  let document: Partial<BootstrapDocument>;
  try {
    document = JSON.parse(text) as Partial<BootstrapDocument>;
  } catch (error) {
    throw new SnapshotError('bootstrap', `the bootstrap is not JSON: ${(error as Error).message}`);
  }
  if (document?.format !== BOOTSTRAP_FORMAT || typeof document.snapshot !== 'string' || typeof document.signature !== 'string') {
    throw new SnapshotError('bootstrap', `the bootstrap is not a ${BOOTSTRAP_FORMAT} document { format, etag, signature, snapshot }`);
  }
  return { bytes: Buffer.from(document.snapshot, 'utf8'), signature: document.signature, etag: typeof document.etag === 'string' ? document.etag : null };
}

/** The bootstrap document of a verified snapshot, as text. */
export function bootstrapDocument(snapshot: Pick<VerifiedSnapshot, 'bytes' | 'signature' | 'etag'>): string {
  const document: BootstrapDocument = {
    format: BOOTSTRAP_FORMAT,
    etag: snapshot.etag,
    signature: snapshot.signature,
    snapshot: new TextDecoder().decode(snapshot.bytes),
  };
  return JSON.stringify(document);
}
