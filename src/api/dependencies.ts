import type { Client } from '@temporalio/client';
import type { AuditCheckpointStore } from '../data/audit-checkpoints.ts';
import type { AuditVerifier } from '../data/audit-signer.ts';
import type { DatabaseStatus } from '../data/database-status.ts';
import type { DatabasePool } from '../data/pool.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { OutboxTail } from '../events/outbox-tail.ts';
import type { Logger } from '../log.ts';
import type { OutboundClient } from '../outbound/outbound-client.ts';
import type { SignInClients } from '../config.ts';
import type { Authenticator } from './auth.ts';
import type { ContextSampler } from './context-sampler.ts';
import type { FlagInsights } from './flag-insights.ts';
import type { ImpactPreviewer } from './impact-preview.ts';
import type { HealthDependencies } from './health.ts';
import type { ProviderEndpoints } from './identity-provider-keys.ts';
import type { LiveFlagSet } from './live-flag-set.ts';
import type { LiveTokenSet } from './live-token-set.ts';
import type { ApiMetrics } from './metrics.ts';
import type { SnapshotCache } from './snapshot.ts';

/** What the API's routes are built from; the composition root (start-api.ts, or a test) owns each part. */
export interface ApiDependencies {
  log: Logger;
  /** The pool of writes and management reads. */
  db: DatabasePool;
  /** A small pool of its own for what keeps the read side current (catch-ups, event streams, health). */
  readDb: DatabasePool;
  /** Whether PostgreSQL answers, as this process's queries find out; outages are logged once. */
  databaseStatus: DatabaseStatus;
  authenticator: Authenticator;
  /** Every live token, by the hash of its secret: authentication never asks the database. */
  tokens: LiveTokenSet;
  health: HealthDependencies;
  /** Largest accepted JSON body; larger ones are a validation_error. */
  maxBodyBytes?: number;
  /** Largest page a list endpoint returns. */
  maxPageSize?: number;
  /** The process's shared LISTEN connection. */
  changeFeed?: ChangeFeed;
  /** The one reader of new outbox events that every /v1/events stream of this process shares, with its caps. */
  outboxTail: OutboxTail;
  /** A /v1/events stream that has sent no event for this long is closed; the client resumes with Last-Event-ID. */
  eventStreamIdleMs: number;
  /** The compiled flag set this process evaluates against. */
  flagSet: LiveFlagSet;
  snapshots: SnapshotCache;
  metrics: ApiMetrics;
  /** Checks gate and webhook URLs against the outbound policy when they are written. */
  outbound: Pick<OutboundClient, 'refusal'>;
  /** Where rollout and approval workflows are started and signalled. */
  temporal: TemporalDependencies;
  /** Archived flags older than this many days are purged (FLAGS_ARCHIVE_RETENTION_DAYS): what the retention preview assumes. */
  archiveRetentionDays?: number;
  /** Finished records older than this many days are cleaned up (FLAGS_CLEANUP_AFTER_DAYS): what the clean-up preview assumes. */
  cleanupAfterDays?: number;
  /** Per-flag evaluation counts, flushed to the database off the evaluation path. */
  insights?: FlagInsights;
  /** The sample of evaluated contexts that impact previews run over (off when FLAGS_SAMPLE_SIZE is 0). */
  sampler?: ContextSampler;
  /** Computes the impact of a proposed change over the sample, in a worker thread. */
  previewer?: ImpactPreviewer;
  /** Whether SDK exposure batches feed the sample (FLAGS_SAMPLE_EXPOSURES). */
  sampleExposures?: boolean;
  /** When an active flag counts as stale (FLAGS_STALE_*_DAYS). */
  stale?: { unevaluatedDays: number; singleValueDays: number };
  /** The identity provider whose JWTs are accepted, as far as clients signing people in need it (FLAGS_OIDC_*). */
  identityProvider?: SignInProvider;
  /** What verify holds the audit log against: the signing key's public half and the checkpoints kept outside the database. */
  audit: { verifier: AuditVerifier; checkpoints: AuditCheckpointStore };
}

export interface TemporalDependencies {
  client: Client;
  namespace: string;
  taskQueue: string;
  /** How long a request waits on Temporal before it answers `unavailable` (api/workflow-calls.ts). */
  callTimeoutMs: number;
  /** The Web UI's base URL, for links in responses; absent when unknown. */
  uiUrl?: string;
}

export interface SignInProvider {
  issuer: string;
  audience: string;
  clients: SignInClients;
  /** As last discovered, without waiting: what the console's Content-Security-Policy allows. */
  knownEndpoints(): ProviderEndpoints | undefined;
  /** Discovered now if not yet known; undefined while the provider cannot be reached. */
  endpoints(): Promise<ProviderEndpoints | undefined>;
}
