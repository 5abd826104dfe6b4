import { resolve } from 'node:path';
import { IDENTITY_CLAIMS, parseRoleMap, type ClaimMapping, type IdentityClaim } from './api/identity-claims.ts';
import { parseOutboundAllowList } from './outbound/outbound-policy.ts';

/** What each API process samples of the contexts it evaluates, for impact previews. */
export interface ContextSampleConfig {
  /** Contexts kept in the overall reservoir of a process; 0 turns sampling off. */
  size: number;
  /** Contexts kept per flag (the reservoir of the contexts that flag was evaluated for). */
  perFlag: number;
  /** Rows kept in PostgreSQL for all processes together; the oldest go first. */
  maxRows: number;
  /** A context whose kept attributes serialize larger than this is not sampled. */
  maxContextBytes: number;
  /** Samples older than this are deleted. */
  retentionDays: number;
  /** How often a process writes what it sampled since the last time. */
  flushSeconds: number;
  /** Whether contexts of SDK exposure batches are sampled too. */
  exposures: boolean;
}

/**
 * Every environment variable the service reads, in one place. The README's table is written from
 * this file; `docker-compose.yml` sets only names that appear here.
 */
export interface Config {
  /** API port. */
  port: number;
  /** Host the API binds to. */
  host: string;
  /** Folder for embedded PostgreSQL data, the Temporal SQLite file, keys and tokens. */
  dataDir: string;
  /** External PostgreSQL, as the application's role; when set, no embedded PostgreSQL is started. */
  databaseUrl: string | undefined;
  /** External PostgreSQL as the owner role, which applies the migrations; DATABASE_URL when unset. */
  migrationDatabaseUrl: string | undefined;
  /** Port of the embedded PostgreSQL. */
  pgPort: number;
  /** External Temporal frontend (host:port); when set, no dev server is started. */
  temporalAddress: string | undefined;
  temporalNamespace: string;
  /** Port of the embedded Temporal dev server's frontend. */
  temporalPort: number;
  /** Port of the embedded Temporal dev server's Web UI. */
  temporalUiPort: number;
  /** Explicit path of the `temporal` CLI, searched before the PATH and the project's own install. */
  temporalCliPath: string | undefined;
  /** URL of the Temporal Web UI, printed at start and linked from rollout responses. */
  temporalUiUrl: string | undefined;
  taskQueue: string;
  /** Admin token; generated once and kept in the data folder when unset. */
  adminToken: string | undefined;
  /** PKCS#8 PEM of the Ed25519 key that signs snapshots; generated once into the data folder when unset. */
  snapshotSigningKey: string | undefined;
  /** PKCS#8 PEM of the Ed25519 key that signs audit entries and checkpoints; generated once into the data folder when unset. */
  auditSigningKey: string | undefined;
  /** How often the worker's schedule checkpoints the audit log's head outside the database. */
  auditCheckpointSeconds: number;
  /** Archived flags older than this are purged by the worker's daily retention schedule. */
  archiveRetentionDays: number;
  /** Finished rollout plans, decided change requests and finished scheduled changes older than this are removed by the retention run. */
  cleanupAfterDays: number;
  /** Audit entries older than this are stored compressed by the retention run. */
  auditCompressAfterDays: number;
  /**
   * SDKs' exposure and tracking batches older than this are removed from the outbox by the retention
   * run: it delivers them to streams and webhooks, it does not store analytics.
   */
  analyticsEventsKeptDays: number;
  /** How often an API process adds its evaluation counts to the database; 0 counts nothing. */
  insightsFlushSeconds: number;
  /** The context sample of impact previews (docs/impact-preview.md#the-sample); `size` 0 keeps none. */
  contextSample: ContextSampleConfig;
  /** A flag not evaluated for this long is stale. */
  staleUnevaluatedDays: number;
  /** A flag that served one value to everyone, unchanged, for this long is stale. */
  staleSingleValueDays: number;
  /** Object storage for published snapshots; without a bucket they go to `<dataDir>/snapshots`. */
  snapshotS3: { bucket: string; prefix: string | undefined; endpoint: string | undefined; region: string | undefined } | undefined;
  /** When set, a standalone worker serves its Prometheus metrics (rollout steps) on this port. */
  workerMetricsPort: number | undefined;
  /** API processes `npm start` runs on the one port (SO_REUSEPORT); more use more cores. */
  apiProcesses: number;
  /**
   * Non-public address ranges that rollout gates and webhooks may reach (`10.0.0.0/8,::1`); unset,
   * only public addresses (the embedded launcher then allows loopback), `none` for none at all.
   */
  outboundAllow: string | undefined;
  /** Sends Strict-Transport-Security with this max-age when set (behind TLS only). */
  hstsMaxAgeSeconds: number | undefined;
  /** Origins whose pages may read OFREP answers (CORS): `*`, or exact origins. */
  ofrepCorsOrigins: '*' | string[];
  /** Serves /metrics on this port without a token instead of on the API port behind feature_flag:metrics. */
  metricsPort: number | undefined;
  /** Level of access-log lines. */
  accessLogLevel: LogLevel;
  /** Level of access-log lines of successful evaluations, the hot path: below the log level they cost nothing. */
  accessLogEvaluationLevel: LogLevel;
  /** A write not committed within this many milliseconds is rolled back and answered 503. */
  writeTimeoutMs: number;
  /** Open /v1/events streams one API process accepts, in all and per token, and how long one may go without an event. */
  eventStreams: { max: number; perToken: number; idleSeconds: number };
  /** How long a request waits on Temporal (start, signal, update, describe, query) before answering 503. */
  temporalCallTimeoutMs: number;
  /** How often a worker brings rollout and change-request records in line with their workflows. */
  reconcileIntervalMs: number;
  /** A worker signals the snapshot publisher at most once per this interval, however fast changes come. */
  snapshotSignalIntervalMs: number;
  /** How many published snapshot versions the store keeps beside `latest.json`; older copies are removed after each publication. */
  snapshotVersionsKept: number;
  /** The company's identity provider, whose bearer JWTs the API accepts beside tokens; unset, tokens only. */
  identityProvider: IdentityProviderConfig | undefined;
  logLevel: string;
}

export interface IdentityProviderConfig extends ClaimMapping {
  issuer: string;
  audience: string;
  /** The JWKS; unset, found through OpenID Connect discovery at the issuer. */
  jwksUrl: string | undefined;
  jwksRefreshSeconds: number;
  /** The public clients people sign in through, as registered at the provider; absent, that way in is not offered. */
  clients: SignInClients;
}

/** What `GET /v1/auth/config` tells the CLI and the console: public client ids (no secret exists for either) and the scopes they ask for. */
export interface SignInClients {
  /** The CLI's client id, for the device authorization grant (RFC 8628). */
  cliClientId: string | undefined;
  /** The console's client id, for the authorization code grant with PKCE, redirecting back to `/ui/`. */
  consoleClientId: string | undefined;
  /** The scopes both ask for, space-separated. */
  scopes: string;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_TEMPORAL_CALL_TIMEOUT_MS = 3_000;
export const DEFAULT_RECONCILE_INTERVAL_MS = 2_000;
/**
 * The publisher publishes at most 1 s after the first change of a burst (its maxDelayMs) whatever
 * the signals between, so signalling more often than that buys little freshness: at 250 ms, four
 * signals a second cost Temporal twice the CPU for the same publications (docs/rollouts.md).
 */
export const DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS = 1_000;
/** Published snapshot versions kept beside `latest.json` when FLAGS_SNAPSHOT_VERSIONS_KEPT says nothing: a client only ever reads the newest. */
export const DEFAULT_SNAPSHOT_VERSIONS_KEPT = 50;

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`${name} must be a port number (0-65535), got "${raw}"`);
  }
  return value;
}

function countFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 64) throw new Error(`${name} must be a whole number from 1 to 64, got "${raw}"`);
  return value;
}

function secondsFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 86_400) throw new Error(`${name} must be a whole number of seconds from 1 to 86400, got "${raw}"`);
  return value;
}

function boundedFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, [min, max]: [number, number]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

function booleanFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'true' && raw !== 'false') throw new Error(`${name} must be true or false, got "${raw}"`);
  return raw === 'true';
}

function stringFromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

function levelFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: LogLevel): LogLevel {
  const raw = stringFromEnv(env, name) ?? fallback;
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new Error(`${name} must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return raw as LogLevel;
}

function optionalSecondsFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = stringFromEnv(env, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number of seconds, got "${raw}"`);
  return value;
}

function originsFromEnv(env: NodeJS.ProcessEnv, name: string): '*' | string[] {
  const raw = stringFromEnv(env, name) ?? '*';
  if (raw.trim() === '*') return '*';
  return raw.split(',').map((part) => part.trim()).filter((part) => part !== '').map((origin) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    // An origin is compared as text with the browser's Origin header: it must be written exactly as browsers send it.
    if (!parsed || parsed.origin !== origin) throw new Error(`${name} must be * or a comma-separated list of origins like https://app.example.com, got "${origin}"`);
    return origin;
  });
}

function allowListFromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = stringFromEnv(env, name);
  try {
    parseOutboundAllowList(raw);
  } catch (error) {
    throw new Error(`${name}: ${(error as Error).message}`);
  }
  return raw;
}

function urlFromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = stringFromEnv(env, name);
  if (raw === undefined) return undefined;
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) throw new Error(`${name} must be an http or https URL, got "${raw}"`);
  return raw;
}

function identityProviderFromEnv(env: NodeJS.ProcessEnv): IdentityProviderConfig | undefined {
  const issuer = urlFromEnv(env, 'FLAGS_OIDC_ISSUER');
  const audience = stringFromEnv(env, 'FLAGS_OIDC_AUDIENCE');
  const jwksUrl = urlFromEnv(env, 'FLAGS_OIDC_JWKS_URL');
  const identityClaim = stringFromEnv(env, 'FLAGS_OIDC_IDENTITY_CLAIM') ?? 'sub';
  const groupsClaim = stringFromEnv(env, 'FLAGS_OIDC_GROUPS_CLAIM') ?? 'groups';
  const rolesText = stringFromEnv(env, 'FLAGS_OIDC_ROLES');
  const jwksRefreshSeconds = secondsFromEnv(env, 'FLAGS_OIDC_JWKS_REFRESH_SECONDS', 600);
  const clients: SignInClients = {
    cliClientId: stringFromEnv(env, 'FLAGS_OIDC_CLI_CLIENT_ID'),
    consoleClientId: stringFromEnv(env, 'FLAGS_OIDC_CONSOLE_CLIENT_ID'),
    scopes: stringFromEnv(env, 'FLAGS_OIDC_CLIENT_SCOPES') ?? 'openid profile email',
  };
  if (issuer === undefined) {
    const named = ['FLAGS_OIDC_AUDIENCE', 'FLAGS_OIDC_JWKS_URL', 'FLAGS_OIDC_ROLES', 'FLAGS_OIDC_CLI_CLIENT_ID', 'FLAGS_OIDC_CONSOLE_CLIENT_ID', 'FLAGS_OIDC_CLIENT_SCOPES'].filter((name) => stringFromEnv(env, name) !== undefined);
    if (named.length > 0) throw new Error(`${named.join(', ')} set without FLAGS_OIDC_ISSUER, the provider they belong to`);
    return undefined;
  }
  // Without an audience any token the provider issued for another application would be accepted here.
  if (audience === undefined) throw new Error('FLAGS_OIDC_AUDIENCE is required with FLAGS_OIDC_ISSUER: the audience this service\'s tokens are issued for');
  if (!(IDENTITY_CLAIMS as readonly string[]).includes(identityClaim)) throw new Error(`FLAGS_OIDC_IDENTITY_CLAIM must be one of ${IDENTITY_CLAIMS.join(', ')}, got "${identityClaim}"`);
  let roles;
  try {
    roles = parseRoleMap(rolesText);
  } catch (error) {
    throw new Error(`FLAGS_OIDC_ROLES: ${(error as Error).message}`);
  }
  return { issuer, audience, jwksUrl, identityClaim: identityClaim as IdentityClaim, groupsClaim, roles, jwksRefreshSeconds, clients };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: intFromEnv(env, 'PORT', 8080),
    host: stringFromEnv(env, 'HOST') ?? '127.0.0.1',
    dataDir: resolve(stringFromEnv(env, 'FLAGS_DATA_DIR') ?? '.data'),
    databaseUrl: stringFromEnv(env, 'DATABASE_URL'),
    migrationDatabaseUrl: stringFromEnv(env, 'FLAGS_MIGRATION_DATABASE_URL'),
    pgPort: intFromEnv(env, 'FLAGS_PG_PORT', 54329),
    temporalAddress: stringFromEnv(env, 'TEMPORAL_ADDRESS'),
    temporalNamespace: stringFromEnv(env, 'TEMPORAL_NAMESPACE') ?? 'default',
    temporalPort: intFromEnv(env, 'FLAGS_TEMPORAL_PORT', 7233),
    temporalUiPort: intFromEnv(env, 'FLAGS_TEMPORAL_UI_PORT', 8233),
    temporalCliPath: stringFromEnv(env, 'TEMPORAL_CLI_PATH'),
    temporalUiUrl: stringFromEnv(env, 'TEMPORAL_UI_URL'),
    taskQueue: stringFromEnv(env, 'FLAGS_TASK_QUEUE') ?? 'flags',
    adminToken: stringFromEnv(env, 'FLAGS_ADMIN_TOKEN'),
    snapshotSigningKey: stringFromEnv(env, 'FLAGS_SNAPSHOT_SIGNING_KEY'),
    auditSigningKey: stringFromEnv(env, 'FLAGS_AUDIT_SIGNING_KEY'),
    auditCheckpointSeconds: secondsFromEnv(env, 'FLAGS_AUDIT_CHECKPOINT_SECONDS', 30),
    archiveRetentionDays: boundedFromEnv(env, 'FLAGS_ARCHIVE_RETENTION_DAYS', 365, [1, 36_500]),
    cleanupAfterDays: boundedFromEnv(env, 'FLAGS_CLEANUP_AFTER_DAYS', 90, [1, 36_500]),
    auditCompressAfterDays: boundedFromEnv(env, 'FLAGS_AUDIT_COMPRESS_AFTER_DAYS', 90, [1, 36_500]),
    analyticsEventsKeptDays: boundedFromEnv(env, 'FLAGS_ANALYTICS_EVENTS_KEPT_DAYS', 7, [1, 36_500]),
    insightsFlushSeconds: boundedFromEnv(env, 'FLAGS_INSIGHTS_FLUSH_SECONDS', 5, [0, 3_600]),
    contextSample: {
      size: boundedFromEnv(env, 'FLAGS_SAMPLE_SIZE', 10_000, [0, 1_000_000]),
      perFlag: boundedFromEnv(env, 'FLAGS_SAMPLE_PER_FLAG', 200, [0, 100_000]),
      maxRows: boundedFromEnv(env, 'FLAGS_SAMPLE_MAX_ROWS', 200_000, [0, 10_000_000]),
      maxContextBytes: boundedFromEnv(env, 'FLAGS_SAMPLE_MAX_CONTEXT_BYTES', 2_048, [64, 65_536]),
      retentionDays: boundedFromEnv(env, 'FLAGS_SAMPLE_RETENTION_DAYS', 7, [1, 365]),
      flushSeconds: boundedFromEnv(env, 'FLAGS_SAMPLE_FLUSH_SECONDS', 5, [1, 3_600]),
      exposures: booleanFromEnv(env, 'FLAGS_SAMPLE_EXPOSURES', false),
    },
    staleUnevaluatedDays: boundedFromEnv(env, 'FLAGS_STALE_UNEVALUATED_DAYS', 30, [1, 3_650]),
    staleSingleValueDays: boundedFromEnv(env, 'FLAGS_STALE_SINGLE_VALUE_DAYS', 14, [1, 3_650]),
    apiProcesses: countFromEnv(env, 'FLAGS_API_PROCESSES', 1),
    writeTimeoutMs: boundedFromEnv(env, 'FLAGS_WRITE_TIMEOUT_MS', 1_500, [100, 60_000]),
    eventStreams: {
      max: boundedFromEnv(env, 'FLAGS_EVENT_STREAMS_MAX', 2_000, [1, 100_000]),
      perToken: boundedFromEnv(env, 'FLAGS_EVENT_STREAMS_PER_TOKEN', 200, [1, 100_000]),
      idleSeconds: boundedFromEnv(env, 'FLAGS_EVENT_STREAM_IDLE_SECONDS', 300, [5, 86_400]),
    },
    temporalCallTimeoutMs: boundedFromEnv(env, 'FLAGS_TEMPORAL_CALL_TIMEOUT_MS', DEFAULT_TEMPORAL_CALL_TIMEOUT_MS, [100, 120_000]),
    reconcileIntervalMs: boundedFromEnv(env, 'FLAGS_RECONCILE_INTERVAL_MS', DEFAULT_RECONCILE_INTERVAL_MS, [100, 600_000]),
    snapshotSignalIntervalMs: boundedFromEnv(env, 'FLAGS_SNAPSHOT_SIGNAL_INTERVAL_MS', DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS, [0, 60_000]),
    snapshotVersionsKept: boundedFromEnv(env, 'FLAGS_SNAPSHOT_VERSIONS_KEPT', DEFAULT_SNAPSHOT_VERSIONS_KEPT, [1, 100_000]),
    snapshotS3: stringFromEnv(env, 'FLAGS_SNAPSHOT_S3_BUCKET')
      ? {
          bucket: stringFromEnv(env, 'FLAGS_SNAPSHOT_S3_BUCKET')!,
          prefix: stringFromEnv(env, 'FLAGS_SNAPSHOT_S3_PREFIX'),
          endpoint: stringFromEnv(env, 'FLAGS_SNAPSHOT_S3_ENDPOINT'),
          region: stringFromEnv(env, 'FLAGS_SNAPSHOT_S3_REGION'),
        }
      : undefined,
    workerMetricsPort: env.FLAGS_WORKER_METRICS_PORT ? intFromEnv(env, 'FLAGS_WORKER_METRICS_PORT', 0) : undefined,
    outboundAllow: allowListFromEnv(env, 'FLAGS_OUTBOUND_ALLOW'),
    hstsMaxAgeSeconds: optionalSecondsFromEnv(env, 'FLAGS_HSTS_MAX_AGE'),
    ofrepCorsOrigins: originsFromEnv(env, 'FLAGS_OFREP_CORS_ORIGINS'),
    metricsPort: env.FLAGS_METRICS_PORT ? intFromEnv(env, 'FLAGS_METRICS_PORT', 0) : undefined,
    accessLogLevel: levelFromEnv(env, 'FLAGS_ACCESS_LOG_LEVEL', 'info'),
    accessLogEvaluationLevel: levelFromEnv(env, 'FLAGS_ACCESS_LOG_EVALUATION_LEVEL', 'debug'),
    identityProvider: identityProviderFromEnv(env),
    logLevel: stringFromEnv(env, 'LOG_LEVEL') ?? 'info',
  };
}
