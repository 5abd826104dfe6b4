import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { AUDIT_CHECKPOINTS_DIR, createFolderCheckpointStore } from '../data/audit-checkpoints.ts';
import { loadAuditSigner, type AuditSigner } from '../data/audit-signer.ts';
import { createDatabasePool, type DatabasePool } from '../data/pool.ts';
import { latestSnapshotPublication } from '../data/snapshots.ts';
import { createChangeFeed, type ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import { createOutboundClient } from '../outbound/outbound-client.ts';
import type { OutboundPolicy } from '../outbound/outbound-policy.ts';
import { createAuthenticator } from './auth.ts';
import type { ApiDependencies } from './dependencies.ts';
import { LiveFlagSet } from './live-flag-set.ts';
import { createApiMetrics, type ApiMetrics } from './metrics.ts';
import { loadSnapshotSigner } from '../snapshots/signing-key.ts';
import { SnapshotCache } from './snapshot.ts';

export interface ApiDependencyOptions {
  databaseUrl: string;
  /** An existing pool to use instead of opening one (tests share theirs); it is not closed. */
  db?: DatabasePool;
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  temporalUiUrl?: string;
  dataDir: string;
  snapshotSigningKeyPem?: string;
  /** PKCS#8 PEM of the audit signing key; otherwise the one in the data folder. */
  auditSigningKeyPem?: string;
  log: Logger;
  /** Which non-public addresses gate and webhook URLs may name. */
  outboundPolicy: OutboundPolicy;
  /** How often the flag set compares its version with the database. */
  flagSetCheckIntervalMs?: number;
}

/**
 * Opens everything an API process's routes need — pool, LISTEN feed, Temporal client, the compiled
 * flag set, the snapshot signer, metrics — and returns them with the function that closes them.
 */
export async function openApiDependencies(options: ApiDependencyOptions): Promise<{ deps: ApiDependencies; close(): Promise<void> }> {
  const ownsPool = !options.db;
  const auditSigner = loadAuditSigner({ pem: options.auditSigningKeyPem, dataDir: options.dataDir });
  const db = options.db ?? (await createDatabasePool(options.databaseUrl, { auditSigner }));
  // Whatever opened before a later step fails is closed again, so a failed start leaves nothing running.
  const opened: (() => Promise<void> | void)[] = ownsPool ? [() => db.end()] : [];
  const closeOpened = async () => {
    for (const close of opened.reverse()) await close();
  };
  try {
    const temporal = await Connection.connect({ address: options.temporalAddress });
    opened.push(() => temporal.close());
    const changeFeed = createChangeFeed({ databaseUrl: options.databaseUrl, log: options.log });
    opened.push(() => changeFeed.close());
    await changeFeed.ready();
    const metrics = createApiMetrics({
      onPerFlagLimit: (flags) => options.log.warn({ flags: flags.length, first: flags.slice(0, 5) }, 'more flags are tagged flagship:metrics than get series of their own; these are counted only in the totals'),
    });
    const flagSet = await LiveFlagSet.load({
      db,
      log: options.log,
      changeFeed,
      onCompile: (kind, seconds, flagsCompiled) => {
        metrics.flagSetCompileSeconds.observe({ kind }, seconds);
        metrics.recompiledFlags.inc(flagsCompiled);
      },
      ...(options.flagSetCheckIntervalMs ? { checkIntervalMs: options.flagSetCheckIntervalMs } : {}),
    });
    opened.push(() => flagSet.close());
    const snapshots = new SnapshotCache({ live: flagSet, signer: loadSnapshotSigner({ pem: options.snapshotSigningKeyPem, dataDir: options.dataDir }), log: options.log, metrics });
    return { deps: buildDependencies({ options, db, temporal, changeFeed, flagSet, snapshots, metrics, auditSigner }), close: closeOpened };
  } catch (error) {
    await closeOpened();
    throw error;
  }
}

function buildDependencies(parts: {
  options: ApiDependencyOptions;
  db: DatabasePool;
  temporal: Connection;
  changeFeed: ChangeFeed;
  flagSet: LiveFlagSet;
  snapshots: SnapshotCache;
  metrics: ApiMetrics;
  auditSigner: AuditSigner;
}): ApiDependencies {
  const { options, db, temporal, changeFeed, flagSet, snapshots, metrics, auditSigner } = parts;
  return {
    log: options.log,
    db,
    authenticator: createAuthenticator(db),
    health: {
      db,
      temporal,
      namespace: options.temporalNamespace,
      snapshot: async () => {
        const published = await latestSnapshotPublication(db);
        return {
          ...(published ? { version: published.version, ageSeconds: Math.round((Date.now() - published.publishedAt) / 100) / 10 } : {}),
          liveVersion: flagSet.version,
        };
      },
    },
    changeFeed,
    flagSet,
    snapshots,
    metrics,
    outbound: createOutboundClient({ policy: options.outboundPolicy }),
    temporal: {
      client: new Client({ connection: temporal, namespace: options.temporalNamespace }),
      namespace: options.temporalNamespace,
      taskQueue: options.taskQueue,
      ...(options.temporalUiUrl ? { uiUrl: options.temporalUiUrl } : {}),
    },
    audit: { verifier: auditSigner, checkpoints: createFolderCheckpointStore(join(options.dataDir, AUDIT_CHECKPOINTS_DIR)) },
  };
}
