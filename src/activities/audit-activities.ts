import { ApplicationFailure } from '@temporalio/common';
import type { AuditCheckpointStore } from '../data/audit-checkpoints.ts';
import { AuditTamperedError, writeAuditCheckpoint } from '../data/audit.ts';
import type { AuditSigner } from '../data/audit-signer.ts';
import type { DatabasePool } from '../data/pool.ts';
import type { Logger } from '../log.ts';

export interface AuditActivityDependencies {
  db: DatabasePool;
  log: Logger;
  signer: AuditSigner;
  checkpoints: AuditCheckpointStore;
}

/** The failure type of a refused checkpoint: retrying cannot help, a person must look. */
const AUDIT_TAMPERED = 'audit_tampered';

export interface AuditCheckpointResult {
  written: boolean;
  id: number | null;
  hash: string | null;
}

export function createAuditActivities(deps: AuditActivityDependencies) {
  return {
    /** Checkpoints the audit log's head outside the database when it moved; refuses a log that does not verify. */
    async writeAuditCheckpoint(): Promise<AuditCheckpointResult> {
      try {
        const outcome = await writeAuditCheckpoint(deps.db, { signer: deps.signer, store: deps.checkpoints, now: Date.now() });
        if (outcome.written) deps.log.info({ id: outcome.checkpoint.id, hash: outcome.checkpoint.hash }, 'audit checkpoint written');
        return { written: outcome.written, id: outcome.checkpoint?.id ?? null, hash: outcome.checkpoint?.hash ?? null };
      } catch (error) {
        if (!(error instanceof AuditTamperedError)) throw error;
        deps.log.error({ problems: error.verification.problems }, error.message);
        throw ApplicationFailure.create({ type: AUDIT_TAMPERED, message: error.message, nonRetryable: true, details: [error.verification.problems] });
      }
    },
  };
}
