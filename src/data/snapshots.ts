import { z } from 'zod';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';

export interface SnapshotPublication {
  version: number;
  etag: string;
  bytes: number;
  signature: string;
  location: string;
  publishedAt: number;
}

const publicationRow = z.object({
  version: z.number(),
  etag: z.string(),
  bytes: z.number(),
  signature: z.string(),
  location: z.string(),
  published_at: z.number(),
});

export async function latestSnapshotPublication(db: DatabasePool): Promise<SnapshotPublication | null> {
  const row = await db.maybeOne(sql.type(publicationRow)`
    SELECT version, etag, bytes, signature, location, published_at FROM snapshots ORDER BY version DESC LIMIT 1`);
  return row ? { version: row.version, etag: row.etag, bytes: row.bytes, signature: row.signature, location: row.location, publishedAt: row.published_at } : null;
}

/** Records a stored snapshot; a second record of the same version (a retried activity) changes nothing. */
export async function recordSnapshotPublication(db: DatabasePool, publication: Omit<SnapshotPublication, 'publishedAt'>): Promise<void> {
  await db.query(sql.typeAlias('void')`
    INSERT INTO snapshots (version, etag, bytes, signature, location)
    VALUES (${publication.version}, ${publication.etag}, ${publication.bytes}, ${publication.signature}, ${publication.location})
    ON CONFLICT (version) DO NOTHING`);
}
