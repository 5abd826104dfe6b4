import { APPEND_SWEEP_INTERVAL_MS, startAppendSweep } from '../data/append-sequencer.ts';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { DEFAULT_TEMPORAL_CALL_TIMEOUT_MS } from '../config.ts';
import { AUDIT_CHECKPOINTS_DIR, createFolderCheckpointStore } from '../data/audit-checkpoints.ts';
import { loadAuditSigner, type AuditSigner } from '../data/audit-signer.ts';
import { DatabaseStatus } from '../data/database-status.ts';
import { createDatabasePoolInBackground, type DatabasePool } from '../data/pool.ts';
import { latestSnapshotPublication } from '../data/snapshots.ts';
import { loadConfig, type ContextSampleConfig, type IdentityProviderConfig } from '../config.ts';
import { ContextSampler } from './context-sampler.ts';
import { ImpactPreviewer } from './impact-preview.ts';
import { FlagInsights } from './flag-insights.ts';
import { createChangeFeed, type ChangeFeed } from '../events/change-feed.ts';
import { OutboxTail } from '../events/outbox-tail.ts';
import type { Logger } from '../log.ts';
import { openTemporalConnection } from '../open-temporal-connection.ts';
import { createOutboundClient, type OutboundClient } from '../outbound/outbound-client.ts';
import type { OutboundPolicy } from '../outbound/outbound-policy.ts';
import { readPublishedFlagSet, readPublishedTokenList } from '../snapshots/published-read-model.ts';
import type { SnapshotStore } from '../snapshots/snapshot-store.ts';
import { createAuthenticator } from './auth.ts';
import type { ApiDependencies, SignInProvider } from './dependencies.ts';
import { IdentityProviderKeys } from './identity-provider-keys.ts';
import { createJwtAuthenticator, type JwtAuthenticator } from './jwt-authenticator.ts';
import { LiveFlagSet } from './live-flag-set.ts';
import { LiveTokenSet } from './live-token-set.ts';
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
  /** How long a request waits on Temporal before answering 503; 3 s unless configured. */
  temporalCallTimeoutMs?: number;
  dataDir: string;
  snapshotSigningKeyPem?: string;
  /** PKCS#8 PEM of the audit signing key; otherwise the one in the data folder. */
  auditSigningKeyPem?: string;
  /** Where the worker publishes snapshots and the token list: read when PostgreSQL is down at start. */
  snapshotStore?: SnapshotStore;
  /** The deadline of a write (FLAGS_WRITE_TIMEOUT_MS). */
  writeTimeoutMs?: number;
  /** Caps and idle time of /v1/events streams (FLAGS_EVENT_STREAMS_*); the defaults are config.ts's. */
  eventStreams?: { max: number; perToken: number; idleSeconds: number };
  log: Logger;
  /** Which non-public addresses gate and webhook URLs may name. */
  outboundPolicy: OutboundPolicy;
  /** How often the flag set compares its version with the database. */
  flagSetCheckIntervalMs?: number;
  /** FLAGS_ARCHIVE_RETENTION_DAYS, for the retention preview; the default is config.ts's. */
  archiveRetentionDays?: number;
  /** FLAGS_CLEANUP_AFTER_DAYS, for the clean-up preview; the default is config.ts's. */
  cleanupAfterDays?: number;
  /** FLAGS_INSIGHTS_FLUSH_SECONDS and FLAGS_STALE_*_DAYS; the defaults are config.ts's. */
  insightsFlushSeconds?: number;
  stale?: { unevaluatedDays: number; singleValueDays: number };
  /** FLAGS_SAMPLE_*: the context sample of impact previews; the defaults are config.ts's. */
  contextSample?: ContextSampleConfig;
  /** Bearer JWTs of this identity provider are accepted beside tokens (FLAGS_OIDC_*); its keys are fetched under the outbound policy. */
  identityProvider?: IdentityProviderConfig | undefined;
}

/**
 * Opens everything an API process's routes need — pools, LISTEN feed, Temporal client, the compiled
 * flag set and the live tokens, the snapshot signer, metrics — and returns them with the function
 * that closes them. PostgreSQL need not answer: the flag set and the tokens then come from what the
 * worker last published, and the pools and the feed connect once PostgreSQL is back.
 */
export async function openApiDependencies(options: ApiDependencyOptions): Promise<{ deps: ApiDependencies; close(): Promise<void> }> {
  const { log } = options;
  const databaseStatus = new DatabaseStatus(log);
  const onFailedAttempt = (error: unknown) => databaseStatus.unreachable(error, 'opening a connection pool');
  const auditSigner = loadAuditSigner({ pem: options.auditSigningKeyPem, dataDir: options.dataDir });
  const [ownPool, readDb] = await Promise.all([
    options.db ? undefined : createDatabasePoolInBackground(options.databaseUrl, { auditSigner, writeTimeoutMs: options.writeTimeoutMs, applicationName: 'flags-api', onFailedAttempt }),
    // The flag set, the tokens, /health and the event streams read through a pool of their own, so
    // writes queueing for a connection never hold up a catch-up, and the reads never take a connection a write needs.
    createDatabasePoolInBackground(options.databaseUrl, { maximumPoolSize: 3, applicationName: 'flags-read-model', onFailedAttempt }),
  ]);
  const db = options.db ?? ownPool!;
  // Whatever opened before a later step fails is closed again, so a failed start leaves nothing running.
  const opened: (() => Promise<void> | void)[] = [() => readDb.end(), ...(ownPool ? [() => ownPool.end()] : [])];
  const closeOpened = async () => {
    for (const close of opened.reverse()) await close();
  };
  try {
    // Lazy: the API serves evaluations and its own records while Temporal is away.
    const temporal = openTemporalConnection(options.temporalAddress);
    opened.push(() => temporal.close());
    const changeFeed = createChangeFeed({ databaseUrl: options.databaseUrl, log });
    opened.push(() => changeFeed.close());
    opened.push(startAppendSweep(db, { log, intervalMs: APPEND_SWEEP_INTERVAL_MS }));
    const metrics = createApiMetrics({
      onPerFlagLimit: (flags) => log.warn({ flags: flags.length, first: flags.slice(0, 5) }, 'more flags are tagged flagship:metrics than get series of their own; these are counted only in the totals'),
    });
    const signer = loadSnapshotSigner({ pem: options.snapshotSigningKeyPem, dataDir: options.dataDir });
    const publicKey = createPublicKey(signer.privateKey);
    const store = options.snapshotStore;
    const flagSet = await LiveFlagSet.open({
      db: readDb,
      log,
      databaseStatus,
      changeFeed,
      checkIntervalMs: options.flagSetCheckIntervalMs,
      onCompile: (kind, seconds, flagsCompiled) => {
        metrics.flagSetCompileSeconds.observe({ kind }, seconds);
        metrics.recompiledFlags.inc(flagsCompiled);
      },
      ...(store ? { fallback: () => readPublishedFlagSet(store, publicKey, log) } : {}),
    });
    opened.push(() => flagSet.close());
    const tokens = await LiveTokenSet.open({
      db: readDb,
      log,
      databaseStatus,
      changeFeed,
      ...(store ? { fallback: () => readPublishedTokenList(store, publicKey, log) } : {}),
    });
    opened.push(() => tokens.close());
    const outbound = createOutboundClient({ policy: options.outboundPolicy });
    let jwt: JwtAuthenticator | undefined;
    let signIn: SignInProvider | undefined;
    if (options.identityProvider) {
      const { identityProvider: provider } = options;
      const readsEndpoints = provider.clients.cliClientId !== undefined || provider.clients.consoleClientId !== undefined;
      const keys = new IdentityProviderKeys({ issuer: provider.issuer, jwksUrl: provider.jwksUrl, outbound, log, refreshMs: provider.jwksRefreshSeconds * 1_000, readsEndpoints });
      keys.start();
      opened.push(() => keys.close());
      jwt = createJwtAuthenticator({ ...provider, keys: keys.resolve });
      signIn = { issuer: provider.issuer, audience: provider.audience, clients: provider.clients, knownEndpoints: () => keys.knownEndpoints, endpoints: () => keys.endpoints() };
      log.info({ issuer: provider.issuer, audience: provider.audience, groups: Object.keys(provider.roles).length }, 'accepting bearer JWTs of the identity provider beside tokens');
    }
    // Tests measure how fast changes travel from the moment the API is up: LISTEN must be in place
    // by then. While PostgreSQL is down the feed connects by itself once it is back.
    if (flagSet.source === 'database') await changeFeed.ready();
    const snapshots = new SnapshotCache({ live: flagSet, signer, log, metrics });
    const streams = options.eventStreams ?? loadConfig({}).eventStreams;
    const outboxTail = new OutboxTail({ db: readDb, log, changeFeed, maxStreams: streams.max, maxStreamsPerToken: streams.perToken });
    opened.push(() => outboxTail.close());
    const defaults = loadConfig({});
    const flushSeconds = options.insightsFlushSeconds ?? defaults.insightsFlushSeconds;
    const insights = flushSeconds > 0 ? new FlagInsights({ db, log, flushSeconds }) : undefined;
    if (insights) opened.push(() => insights.close());
    const sampleConfig = options.contextSample ?? defaults.contextSample;
    const sampler = sampleConfig.size > 0 ? new ContextSampler({ db, log, live: () => flagSet.current, config: sampleConfig }) : undefined;
    if (sampler) opened.push(() => sampler.close());
    const previewer = new ImpactPreviewer({ db, live: () => flagSet.current, ...(sampler ? { sampler } : {}) });
    opened.push(() => previewer.close());
    const stale = options.stale ?? { unevaluatedDays: defaults.staleUnevaluatedDays, singleValueDays: defaults.staleSingleValueDays };
    return {
      deps: {
        ...buildDependencies({ options, db, readDb, databaseStatus, temporal, changeFeed, flagSet, tokens, jwt, outbound, snapshots, metrics, auditSigner }),
        outboxTail,
        eventStreamIdleMs: streams.idleSeconds * 1_000,
        ...(insights ? { insights } : {}),
        ...(signIn ? { identityProvider: signIn } : {}),
        ...(sampler ? { sampler } : {}),
        previewer,
        sampleExposures: sampleConfig.exposures,
        stale,
      },
      close: closeOpened,
    };
  } catch (error) {
    await closeOpened();
    throw error;
  }
}

function buildDependencies(parts: {
  options: ApiDependencyOptions;
  db: DatabasePool;
  readDb: DatabasePool;
  databaseStatus: DatabaseStatus;
  temporal: Connection;
  changeFeed: ChangeFeed;
  flagSet: LiveFlagSet;
  tokens: LiveTokenSet;
  jwt: JwtAuthenticator | undefined;
  outbound: OutboundClient;
  snapshots: SnapshotCache;
  metrics: ApiMetrics;
  auditSigner: AuditSigner;
}): Omit<ApiDependencies, 'outboxTail' | 'eventStreamIdleMs'> {
  const { options, db, readDb, databaseStatus, temporal, changeFeed, flagSet, tokens, jwt, outbound, snapshots, metrics, auditSigner } = parts;
  return {
    log: options.log,
    db,
    readDb,
    databaseStatus,
    authenticator: createAuthenticator(tokens, { jwt }),
    tokens,
    health: {
      db: readDb,
      temporal,
      namespace: options.temporalNamespace,
      flagSet,
      tokens,
      snapshot: async () => {
        const published = await latestSnapshotPublication(readDb);
        return published ? { version: published.version, ageSeconds: Math.round((Date.now() - published.publishedAt) / 100) / 10 } : {};
      },
    },
    changeFeed,
    flagSet,
    snapshots,
    metrics,
    outbound,
    temporal: {
      client: new Client({ connection: temporal, namespace: options.temporalNamespace }),
      namespace: options.temporalNamespace,
      taskQueue: options.taskQueue,
      callTimeoutMs: options.temporalCallTimeoutMs ?? DEFAULT_TEMPORAL_CALL_TIMEOUT_MS,
      ...(options.temporalUiUrl ? { uiUrl: options.temporalUiUrl } : {}),
    },
    audit: { verifier: auditSigner, checkpoints: createFolderCheckpointStore(join(options.dataDir, AUDIT_CHECKPOINTS_DIR)) },
    archiveRetentionDays: options.archiveRetentionDays ?? loadConfig({}).archiveRetentionDays,
    cleanupAfterDays: options.cleanupAfterDays ?? loadConfig({}).cleanupAfterDays,
  };
}
