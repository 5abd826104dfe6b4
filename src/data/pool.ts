import { createPool, type DatabasePool } from 'slonik';

export type { DatabasePool };

/**
 * One slonik pool per process. Statement and transaction timeouts keep a stuck query from holding
 * the write lock; a lost server surfaces as an error per query, and the pool reconnects on its own.
 */
export async function createDatabasePool(databaseUrl: string, options: { maximumPoolSize?: number } = {}): Promise<DatabasePool> {
  return createPool(databaseUrl, {
    maximumPoolSize: options.maximumPoolSize ?? 10,
    connectionTimeout: 5_000,
    statementTimeout: 15_000,
    idleInTransactionSessionTimeout: 15_000,
    transactionRetryLimit: 0,
    queryRetryLimit: 0,
  });
}
