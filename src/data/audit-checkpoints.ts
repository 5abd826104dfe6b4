import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { AuditSigner, AuditVerifier } from './audit-signer.ts';
import type { DatabasePool } from './pool.ts';
import { sql } from './sql.ts';

/**
 * A signed statement that the audit log of `database` had `id` as its newest entry, with chain hash
 * `hash`, at `at`. Kept outside the database (and published as the `audit.checkpoint` event), it is
 * what catches the newest entries being deleted: the chain alone cannot tell a log that lost its
 * last entries from one that never had them.
 */
export interface AuditCheckpoint {
  database: string;
  id: number;
  hash: string;
  /** Entries up to this id were written before entries were signed; the checkpoint pins the boundary. */
  unsignedThrough: number;
  at: string;
  keyId: string;
  signature: string;
}

const checkpointSchema = z.object({
  database: z.string(),
  id: z.number().int().nonnegative(),
  hash: z.string(),
  unsignedThrough: z.number().int().nonnegative(),
  at: z.string(),
  keyId: z.string(),
  signature: z.string(),
});

/** The signed bytes: the content fields in a fixed order. */
export function checkpointContent(checkpoint: Pick<AuditCheckpoint, 'database' | 'id' | 'hash' | 'unsignedThrough' | 'at'>): string {
  const { database, id, hash, unsignedThrough, at } = checkpoint;
  return JSON.stringify({ database, id, hash, unsignedThrough, at });
}

export function verifyCheckpoint(checkpoint: AuditCheckpoint, verifier: AuditVerifier): boolean {
  return verifier.verifyCheckpoint(checkpointContent(checkpoint), checkpoint.signature);
}

/** The folder in the data folder where checkpoints are kept, on the embedded default and docker-compose. */
export const AUDIT_CHECKPOINTS_DIR = 'audit-checkpoints';

/** The newest checkpoint of each database's log, kept where the database cannot reach. */
export interface AuditCheckpointStore {
  /** Null when none was made yet; throws when what is stored is not a checkpoint. */
  latest(database: string): Promise<AuditCheckpoint | null>;
  put(checkpoint: AuditCheckpoint): Promise<void>;
  /** Where the checkpoints are, for messages. */
  location: string;
}

/**
 * The embedded default and docker-compose: a folder (`<data folder>/audit-checkpoints`), one file per
 * database, written atomically (temp file + rename). The API reads what the worker writes, so on
 * several hosts the folder must be shared.
 */
export function createFolderCheckpointStore(directory: string): AuditCheckpointStore {
  const fileOf = (database: string) => join(directory, `${encodeURIComponent(database)}.json`);
  return {
    location: directory,
    async latest(database) {
      let text: string;
      try {
        text = readFileSync(fileOf(database), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const parsed = checkpointSchema.safeParse(json);
      if (!parsed.success) throw new Error(`${fileOf(database)} does not hold an audit checkpoint`);
      return parsed.data;
    },
    async put(checkpoint) {
      mkdirSync(directory, { recursive: true });
      const path = fileOf(checkpoint.database);
      const temporary = `${path}.${process.pid}.tmp`;
      writeFileSync(temporary, `${JSON.stringify(checkpoint, null, 2)}\n`);
      renameSync(temporary, path);
    },
  };
}

export async function currentDatabase(db: DatabasePool): Promise<string> {
  return db.oneFirst(sql.type(z.object({ name: z.string() }))`SELECT current_database() AS name`);
}

/** The newest entry's id and chain hash, or null for an empty log. */
export async function auditHead(db: DatabasePool): Promise<{ id: number; hash: string } | null> {
  return db.maybeOne(sql.type(z.object({ id: z.number(), hash: z.string() }))`SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`);
}

/** Where signing began, as the migration recorded it. */
export async function unsignedThroughInDatabase(db: DatabasePool): Promise<number> {
  return (await db.maybeOneFirst(sql.type(z.object({ unsigned_through: z.number() }))`SELECT unsigned_through FROM audit_signing`)) ?? 0;
}

export function signCheckpoint(content: Pick<AuditCheckpoint, 'database' | 'id' | 'hash' | 'unsignedThrough' | 'at'>, signer: AuditSigner): AuditCheckpoint {
  return { ...content, keyId: signer.keyId, signature: signer.signCheckpoint(checkpointContent(content)) };
}
