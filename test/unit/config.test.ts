import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config.ts';

describe('loadConfig', () => {
  it('uses the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.pgPort).toBe(54329);
    expect(config.temporalNamespace).toBe('default');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.temporalCallTimeoutMs).toBe(3_000);
    expect(config.reconcileIntervalMs).toBe(2_000);
    expect(config.snapshotSignalIntervalMs).toBe(1_000);
  });

  it('reads durations in milliseconds within their range', () => {
    expect(loadConfig({ FLAGS_TEMPORAL_CALL_TIMEOUT_MS: '1500', FLAGS_SNAPSHOT_SIGNAL_INTERVAL_MS: '0' })).toMatchObject({ temporalCallTimeoutMs: 1_500, snapshotSignalIntervalMs: 0 });
    expect(() => loadConfig({ FLAGS_TEMPORAL_CALL_TIMEOUT_MS: '3s' })).toThrow(/FLAGS_TEMPORAL_CALL_TIMEOUT_MS must be a whole number from 100 to 120000/);
    expect(() => loadConfig({ FLAGS_RECONCILE_INTERVAL_MS: '0' })).toThrow(/FLAGS_RECONCILE_INTERVAL_MS/);
  });

  it('reads the outbound allow-list and refuses one that names no address range', () => {
    expect(loadConfig({}).outboundAllow).toBeUndefined();
    expect(loadConfig({ FLAGS_OUTBOUND_ALLOW: '10.20.0.0/16, fd00::/8' }).outboundAllow).toBe('10.20.0.0/16, fd00::/8');
    expect(() => loadConfig({ FLAGS_OUTBOUND_ALLOW: 'internal.example' })).toThrow('FLAGS_OUTBOUND_ALLOW: "internal.example" is not an IP address or a CIDR range');
  });

  it('reads the edge settings: access-log levels, HSTS, a metrics port', () => {
    expect(loadConfig({})).toMatchObject({ accessLogLevel: 'info', accessLogEvaluationLevel: 'debug', hstsMaxAgeSeconds: undefined, metricsPort: undefined });
    expect(loadConfig({ FLAGS_ACCESS_LOG_LEVEL: 'warn', FLAGS_ACCESS_LOG_EVALUATION_LEVEL: 'silent', FLAGS_HSTS_MAX_AGE: '31536000', FLAGS_METRICS_PORT: '9464' }))
      .toMatchObject({ accessLogLevel: 'warn', accessLogEvaluationLevel: 'silent', hstsMaxAgeSeconds: 31_536_000, metricsPort: 9464 });
    expect(() => loadConfig({ FLAGS_ACCESS_LOG_LEVEL: 'loud' })).toThrow(/FLAGS_ACCESS_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent/);
    expect(() => loadConfig({ FLAGS_HSTS_MAX_AGE: '1y' })).toThrow(/FLAGS_HSTS_MAX_AGE must be a whole number of seconds/);
  });

  it('refuses a port that is not a number', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT must be a port number/);
  });

  it('checkpoints the audit log every 30 s unless told otherwise, and refuses an interval that is not a whole number of seconds from 1 to a day', () => {
    expect(loadConfig({}).auditCheckpointSeconds).toBe(30);
    expect(loadConfig({ FLAGS_AUDIT_CHECKPOINT_SECONDS: '5' }).auditCheckpointSeconds).toBe(5);
    for (const bad of ['0', '1.5', 'soon', '86401']) {
      expect(() => loadConfig({ FLAGS_AUDIT_CHECKPOINT_SECONDS: bad })).toThrow(/FLAGS_AUDIT_CHECKPOINT_SECONDS must be a whole number of seconds from 1 to 86400/);
    }
  });

  it('migrates with FLAGS_MIGRATION_DATABASE_URL when given, apart from the application\'s DATABASE_URL', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://app@db/flags', FLAGS_MIGRATION_DATABASE_URL: 'postgres://owner@db/flags' });
    expect(config).toMatchObject({ databaseUrl: 'postgres://app@db/flags', migrationDatabaseUrl: 'postgres://owner@db/flags' });
    expect(loadConfig({}).migrationDatabaseUrl).toBeUndefined();
  });

  it('reads no identity provider unless FLAGS_OIDC_ISSUER is set, and then needs an audience and a valid role map', () => {
    expect(loadConfig({}).identityProvider).toBeUndefined();
    const roles = '{"flag-admins": {"scopes": ["feature_flag:admin"]}, "checkout": {"scopes": ["feature_flag:evaluate"], "projects": ["checkout"]}}';
    expect(loadConfig({ FLAGS_OIDC_ISSUER: 'https://id.example.com', FLAGS_OIDC_AUDIENCE: 'flagship', FLAGS_OIDC_ROLES: roles }).identityProvider).toEqual({
      issuer: 'https://id.example.com',
      audience: 'flagship',
      jwksUrl: undefined,
      identityClaim: 'sub',
      groupsClaim: 'groups',
      roles: { 'flag-admins': { scopes: ['feature_flag:admin'] }, checkout: { scopes: ['feature_flag:evaluate'], projects: ['checkout'] } },
      jwksRefreshSeconds: 600,
      clients: { cliClientId: undefined, consoleClientId: undefined, scopes: 'openid profile email' },
    });
    expect(() => loadConfig({ FLAGS_OIDC_ISSUER: 'https://id.example.com' })).toThrow(/FLAGS_OIDC_AUDIENCE is required/);
    expect(() => loadConfig({ FLAGS_OIDC_AUDIENCE: 'flagship' })).toThrow(/FLAGS_OIDC_AUDIENCE set without FLAGS_OIDC_ISSUER/);
    expect(() => loadConfig({ FLAGS_OIDC_CLI_CLIENT_ID: 'flagship-cli' })).toThrow(/FLAGS_OIDC_CLI_CLIENT_ID set without FLAGS_OIDC_ISSUER/);
    expect(() => loadConfig({ FLAGS_OIDC_ISSUER: 'id.example.com', FLAGS_OIDC_AUDIENCE: 'flagship' })).toThrow(/FLAGS_OIDC_ISSUER must be an http or https URL/);
    const base = { FLAGS_OIDC_ISSUER: 'https://id.example.com', FLAGS_OIDC_AUDIENCE: 'flagship' };
    expect(loadConfig({ ...base, FLAGS_OIDC_CLI_CLIENT_ID: 'flagship-cli', FLAGS_OIDC_CONSOLE_CLIENT_ID: 'flagship-console', FLAGS_OIDC_CLIENT_SCOPES: 'openid api://flagship/.default' }).identityProvider?.clients)
      .toEqual({ cliClientId: 'flagship-cli', consoleClientId: 'flagship-console', scopes: 'openid api://flagship/.default' });
    expect(() => loadConfig({ ...base, FLAGS_OIDC_IDENTITY_CLAIM: 'name' })).toThrow(/FLAGS_OIDC_IDENTITY_CLAIM must be one of sub, email/);
    expect(() => loadConfig({ ...base, FLAGS_OIDC_ROLES: '{"x": ' })).toThrow(/FLAGS_OIDC_ROLES: is not JSON/);
    expect(() => loadConfig({ ...base, FLAGS_OIDC_ROLES: '{"x": {"scopes": ["feature_flag:everything"]}}' })).toThrow(/FLAGS_OIDC_ROLES: x\.scopes\.0/);
  });
});
