import { createPool, createTypeParserPreset, type DatabasePool } from 'slonik';
import { useAuditSigner, type AuditSigner } from './audit-signer.ts';

export type { DatabasePool };

/**
 * bigint ids (outbox, audit) stay far below 2^53, so they are read as numbers: JSON-serialisable,
 * comparable, and what SSE ids and cursors carry. Timestamps stay slonik's epoch milliseconds.
 */
const typeParsers = [
  ...createTypeParserPreset().filter((parser) => parser.name !== 'int8'),
  { name: 'int8', parse: (value: string) => Number(value) },
];

/**
 * One slonik pool per process. Statement and transaction timeouts keep a stuck query from holding
 * the write lock; a lost server surfaces as an error per query, and the pool reconnects on its own.
 * A process that writes (the API, the worker) passes its audit signer: every audit entry written
 * through the pool is signed with it.
 */
export async function createDatabasePool(databaseUrl: string, options: { maximumPoolSize?: number; auditSigner?: AuditSigner } = {}): Promise<DatabasePool> {
  const pool = await createPool(databaseUrl, {
    maximumPoolSize: options.maximumPoolSize ?? 10,
    connectionTimeout: 5_000,
    statementTimeout: 15_000,
    idleInTransactionSessionTimeout: 15_000,
    transactionRetryLimit: 0,
    queryRetryLimit: 0,
    typeParsers,
  });
  if (options.auditSigner) useAuditSigner(pool, options.auditSigner);
  return pool;
}
