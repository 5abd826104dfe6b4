import { createHash, sign } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Flag, Segment } from '@flagship/engine';
import type { SnapshotSigner } from './signing-key.ts';

/** Past this, clients' bootstraps get slow: logged and visible in metrics. */
export const SNAPSHOT_WARN_BYTES = 5 * 1024 * 1024;

export interface SnapshotContent {
  version: number;
  flags: Iterable<Flag>;
  segments: Iterable<Segment>;
  killswitches: Iterable<string>;
}

export interface BuiltSnapshot {
  version: number;
  /** The exact bytes that are signed and served (uncompressed). */
  body: Buffer;
  gzipped: Buffer;
  /** Base64 Ed25519 signature over `body`. */
  signature: string;
  /** Content-addressed, so two processes serving the same content agree on it. */
  etag: string;
  builtAt: number;
}

/** Who may approve a flag's changes is management data: SDKs holding the snapshot get no list of people. */
function withoutApprovers(flag: Flag): Flag {
  if (flag.approvers === undefined) return flag;
  const { approvers: _approvers, ...evaluated } = flag;
  return evaluated;
}

/** Serialises, signs and compresses a snapshot once; every request for that version reuses the bytes. */
export function buildSnapshot(content: SnapshotContent, signer: SnapshotSigner, now: number): BuiltSnapshot {
  const document = {
    version: content.version,
    generatedAt: new Date(now).toISOString(),
    flags: [...content.flags].map(withoutApprovers).sort((a, b) => (a.key < b.key ? -1 : 1)),
    segments: [...content.segments].sort((a, b) => (a.key < b.key ? -1 : 1)),
    killswitches: [...content.killswitches].sort(),
  };
  const body = Buffer.from(JSON.stringify(document));
  const contentHash = createHash('sha256').update(JSON.stringify([document.flags, document.segments, document.killswitches])).digest('base64url').slice(0, 16);
  return {
    version: content.version,
    body,
    gzipped: gzipSync(body),
    signature: sign(null, body, signer.privateKey).toString('base64'),
    etag: `"${contentHash}"`,
    builtAt: now,
  };
}
