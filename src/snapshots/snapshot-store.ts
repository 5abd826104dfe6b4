import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, S3Client, type _Object } from '@aws-sdk/client-s3';
import { DEFAULT_SNAPSHOT_VERSIONS_KEPT } from '../config.ts';

/** Signed bytes as stored: the exact body and its base64 Ed25519 signature. */
export interface SignedDocument {
  version: number;
  body: Buffer;
  signature: string;
}

/** Where the token list lies inside a store: apart from the snapshots, so SDK readers can be kept out of it. */
export const TOKEN_LIST_NAME = 'private/tokens.json';

/**
 * Where published snapshots are kept for clients that bootstrap without asking the API: each
 * version under its own name, plus `latest.json`, with the signature beside the bytes. API
 * processes read `latest.json` back when they start while PostgreSQL is down. Beside them, under
 * `private/`, the token list those processes authenticate with meanwhile (hashes, never secrets).
 */
export interface SnapshotStore {
  /** Stores the snapshot and returns where it lies. Writing the same version twice is harmless. */
  put(snapshot: SignedDocument): Promise<string>;
  /**
   * Removes the versioned copies but the most recently stored `versionsKept` (`latest.json` stays);
   * returns how many versions it removed. Every publication stores a copy, and nothing reads an old
   * one (a client refuses a snapshot older than the one it holds), so without this they pile up.
   */
  removeOldVersions(): Promise<number>;
  /** The newest snapshot stored, not yet verified; null when none was. */
  latest(): Promise<Omit<SignedDocument, 'version'> | null>;
  putTokenList(list: SignedDocument): Promise<string>;
  /** The token list stored, not yet verified; null when none was. */
  tokenList(): Promise<Omit<SignedDocument, 'version'> | null>;
}

const VERSIONED_NAME = /^snapshot-(\d+)\.json(?:\.sig)?$/;

/**
 * Notes when a versioned copy or its signature was stored, if `name` is one; a version counts from
 * its newer file, and a signature alone (a crash between the two writes) counts as its version.
 */
function noteStored(storedAt: Map<number, number>, name: string, when: () => number): void {
  const match = VERSIONED_NAME.exec(name);
  if (!match) return;
  const version = Number(match[1]);
  storedAt.set(version, Math.max(storedAt.get(version) ?? 0, when()));
}

/**
 * The versions to remove, given when each was stored: all but the `versionsKept` stored last. By
 * when they were stored, not by number: a service pointed at a new database publishes low versions
 * again, and the copy it has just stored must not be the one removed.
 */
function versionsToRemove(storedAt: Map<number, number>, versionsKept: number): number[] {
  return [...storedAt].sort(([versionA, atA], [versionB, atB]) => atB - atA || versionB - versionA).slice(versionsKept).map(([version]) => version);
}

/** The embedded default: a folder, written atomically (temp file + rename) so a reader never sees half a file. */
export function createFolderSnapshotStore(directory: string, options: { versionsKept?: number } = {}): SnapshotStore {
  const versionsKept = options.versionsKept ?? DEFAULT_SNAPSHOT_VERSIONS_KEPT;
  const write = (name: string, data: Buffer | string, mode = 0o644) => {
    const path = join(directory, name);
    mkdirSync(dirname(path), { recursive: true });
    const temporary = join(dirname(path), `.${name.replace(/\//g, '_')}.${process.pid}.tmp`);
    writeFileSync(temporary, data, { mode });
    renameSync(temporary, path);
  };
  const read = (name: string): Omit<SignedDocument, 'version'> | null => {
    try {
      // Signature first: a publication that lands between the two reads then fails verification
      // (and is read again later) instead of pairing an old signature with new bytes unnoticed.
      const signature = readFileSync(join(directory, `${name}.sig`), 'utf8');
      return { body: readFileSync(join(directory, name)), signature };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  };
  return {
    async put(snapshot) {
      const versioned = `snapshot-${snapshot.version}.json`;
      write(versioned, snapshot.body);
      write(`${versioned}.sig`, snapshot.signature);
      write('latest.json', snapshot.body);
      write('latest.json.sig', snapshot.signature);
      return join(directory, versioned);
    },
    async removeOldVersions() {
      const storedAt = new Map<number, number>();
      for (const name of readdirSync(directory)) {
        try {
          noteStored(storedAt, name, () => statSync(join(directory, name)).mtimeMs);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
      const removed = versionsToRemove(storedAt, versionsKept);
      for (const version of removed) {
        for (const name of [`snapshot-${version}.json`, `snapshot-${version}.json.sig`]) rmSync(join(directory, name), { force: true });
      }
      return removed.length;
    },
    latest: async () => read('latest.json'),
    async putTokenList(list) {
      write(TOKEN_LIST_NAME, list.body, 0o600);
      write(`${TOKEN_LIST_NAME}.sig`, list.signature, 0o600);
      return join(directory, TOKEN_LIST_NAME);
    },
    tokenList: async () => read(TOKEN_LIST_NAME),
  };
}

export interface S3SnapshotStoreOptions {
  bucket: string;
  prefix?: string;
  /** For S3-compatible stores (MinIO, R2…); credentials and region come from the AWS SDK's usual chain. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  versionsKept?: number;
}

/** Object storage: the signature travels as object metadata and as a sibling object. */
export function createS3SnapshotStore(options: S3SnapshotStoreOptions): SnapshotStore {
  const client = new S3Client({
    region: options.region ?? 'us-east-1',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
  });
  const prefix = options.prefix ? `${options.prefix.replace(/\/$/, '')}/` : '';
  const put = (key: string, body: Buffer | string, document: SignedDocument, contentType: string) =>
    client.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: `${prefix}${key}`,
        Body: body,
        ContentType: contentType,
        Metadata: { 'flags-signature': document.signature, 'flags-version': String(document.version) },
      }),
    );
  // The signature travels in the object's own metadata, so body and signature are read in one request and always match.
  const read = async (key: string): Promise<Omit<SignedDocument, 'version'> | null> => {
    try {
      const object = await client.send(new GetObjectCommand({ Bucket: options.bucket, Key: `${prefix}${key}` }));
      const signature = object.Metadata?.['flags-signature'];
      if (!object.Body || !signature) return null;
      return { body: Buffer.from(await object.Body.transformToByteArray()), signature };
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  };
  return {
    async put(snapshot) {
      const versioned = `snapshot-${snapshot.version}.json`;
      await put(versioned, snapshot.body, snapshot, 'application/json');
      await put(`${versioned}.sig`, snapshot.signature, snapshot, 'text/plain');
      await put('latest.json', snapshot.body, snapshot, 'application/json');
      await put('latest.json.sig', snapshot.signature, snapshot, 'text/plain');
      return `s3://${options.bucket}/${prefix}${versioned}`;
    },
    async removeOldVersions() {
      const objects: _Object[] = [];
      let continuationToken: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: options.bucket, Prefix: `${prefix}snapshot-`, ...(continuationToken ? { ContinuationToken: continuationToken } : {}) }));
        objects.push(...(page.Contents ?? []));
        continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (continuationToken);
      const storedAt = new Map<number, number>();
      for (const object of objects) noteStored(storedAt, object.Key?.slice(prefix.length) ?? '', () => object.LastModified?.getTime() ?? 0);
      const removed = versionsToRemove(storedAt, options.versionsKept ?? DEFAULT_SNAPSHOT_VERSIONS_KEPT);
      const keys = removed.flatMap((version) => [`${prefix}snapshot-${version}.json`, `${prefix}snapshot-${version}.json.sig`]);
      // DeleteObjects takes at most 1,000 keys a request.
      for (let start = 0; start < keys.length; start += 1_000) {
        const batch = keys.slice(start, start + 1_000);
        const result = await client.send(new DeleteObjectsCommand({ Bucket: options.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
        const failed = result.Errors?.[0];
        if (failed) throw new Error(`could not remove ${result.Errors!.length} old snapshot object(s), the first ${failed.Key}: ${failed.Code} ${failed.Message}`);
      }
      return removed.length;
    },
    latest: () => read('latest.json'),
    async putTokenList(list) {
      await put(TOKEN_LIST_NAME, list.body, list, 'application/json');
      return `s3://${options.bucket}/${prefix}${TOKEN_LIST_NAME}`;
    },
    tokenList: () => read(TOKEN_LIST_NAME),
  };
}
