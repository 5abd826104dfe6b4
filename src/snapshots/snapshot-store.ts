import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { BuiltSnapshot } from './build-snapshot.ts';

/**
 * Where published snapshots are kept for clients that bootstrap without asking the API: each
 * version under its own name, plus `latest.json`, with the signature beside the bytes.
 */
export interface SnapshotStore {
  /** Stores the snapshot and returns where it lies. Writing the same version twice is harmless. */
  put(snapshot: BuiltSnapshot): Promise<string>;
}

/** The embedded default: a folder, written atomically (temp file + rename) so a reader never sees half a file. */
export function createFolderSnapshotStore(directory: string): SnapshotStore {
  return {
    async put(snapshot) {
      mkdirSync(directory, { recursive: true });
      const write = (name: string, data: Buffer | string) => {
        const temporary = join(directory, `.${name}.${process.pid}.tmp`);
        writeFileSync(temporary, data);
        renameSync(temporary, join(directory, name));
      };
      const versioned = `snapshot-${snapshot.version}.json`;
      write(versioned, snapshot.body);
      write(`${versioned}.sig`, snapshot.signature);
      write('latest.json', snapshot.body);
      write('latest.json.sig', snapshot.signature);
      return join(directory, versioned);
    },
  };
}

export interface S3SnapshotStoreOptions {
  bucket: string;
  prefix?: string;
  /** For S3-compatible stores (MinIO, R2…); credentials and region come from the AWS SDK's usual chain. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

/** Object storage: the signature travels as object metadata and as a sibling object. */
export function createS3SnapshotStore(options: S3SnapshotStoreOptions): SnapshotStore {
  const client = new S3Client({
    region: options.region ?? 'us-east-1',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
  });
  const prefix = options.prefix ? `${options.prefix.replace(/\/$/, '')}/` : '';
  const put = (key: string, body: Buffer | string, snapshot: BuiltSnapshot, contentType: string) =>
    client.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: `${prefix}${key}`,
        Body: body,
        ContentType: contentType,
        Metadata: { 'flags-signature': snapshot.signature, 'flags-version': String(snapshot.version) },
      }),
    );
  return {
    async put(snapshot) {
      const versioned = `snapshot-${snapshot.version}.json`;
      await put(versioned, snapshot.body, snapshot, 'application/json');
      await put(`${versioned}.sig`, snapshot.signature, snapshot, 'text/plain');
      await put('latest.json', snapshot.body, snapshot, 'application/json');
      await put('latest.json.sig', snapshot.signature, snapshot, 'text/plain');
      return `s3://${options.bucket}/${prefix}${versioned}`;
    },
  };
}
