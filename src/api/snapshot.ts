import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Flag, Segment } from '../engine/index.ts';
import type { Logger } from '../log.ts';
import type { LiveFlagSet } from './live-flag-set.ts';
import type { ApiMetrics } from './metrics.ts';

/** Past this, clients' bootstraps get slow: logged and visible in metrics. */
export const SNAPSHOT_WARN_BYTES = 5 * 1024 * 1024;
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

/** Serialises, signs and compresses a snapshot once; every request for that version reuses the bytes. */
export function buildSnapshot(content: SnapshotContent, signer: SnapshotSigner, now: number): BuiltSnapshot {
  const document = {
    version: content.version,
    generatedAt: new Date(now).toISOString(),
    flags: [...content.flags].sort((a, b) => (a.key < b.key ? -1 : 1)),
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

/** The snapshot of a live flag set, rebuilt lazily after the set changes. */
export class SnapshotCache {
  readonly #live: LiveFlagSet;
  readonly #signer: SnapshotSigner;
  readonly #log: Logger;
  readonly #metrics: ApiMetrics | undefined;
  #built: BuiltSnapshot | undefined;
  #builtForChange = -1;

  constructor(options: { live: LiveFlagSet; signer: SnapshotSigner; log: Logger; metrics?: ApiMetrics }) {
    this.#live = options.live;
    this.#signer = options.signer;
    this.#log = options.log;
    this.#metrics = options.metrics;
  }

  get publicKeyPem(): string {
    return this.#signer.publicKeyPem;
  }

  current(): BuiltSnapshot {
    if (!this.#built || this.#builtForChange !== this.#live.changeCount) {
      const change = this.#live.changeCount;
      const set = this.#live.current;
      this.#built = buildSnapshot(
        { version: this.#live.version, flags: this.#live.flags.values(), segments: this.#live.segments.values(), killswitches: set.killswitches },
        this.#signer,
        Date.now(),
      );
      this.#builtForChange = change;
      this.#metrics?.snapshotBytes.set(this.#built.body.length);
      if (this.#built.body.length > SNAPSHOT_WARN_BYTES) {
        this.#log.warn({ bytes: this.#built.body.length, limit: SNAPSHOT_WARN_BYTES }, 'the snapshot is larger than 5 MB; SDK bootstraps will be slow');
      }
    }
    return this.#built;
  }

  /** Seconds since the snapshot served now was built (0 when none was built yet). */
  ageSeconds(now = Date.now()): number | undefined {
    return this.#built ? (now - this.#built.builtAt) / 1000 : undefined;
  }
}
