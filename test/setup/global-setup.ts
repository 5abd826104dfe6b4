// Starts the real parts the integration tests run against, once per run: an embedded PostgreSQL
// (or TEST_DATABASE_URL's server) with a migrated template database, and a Temporal dev server
// (or TEST_TEMPORAL_ADDRESS's). Everything started here is stopped by global-teardown.ts.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import { ensureApplicationRole } from '../../src/data/database-roles.ts';
import { migrate } from '../../src/data/migrate.ts';
import { startEmbeddedPostgres } from '../../src/launcher/embedded-postgres.ts';
import { findTemporalCli } from '../../src/launcher/temporal-cli.ts';
import { startTemporalDevServer } from '../../src/launcher/temporal-dev-server.ts';
import { createLogger } from '../../src/log.ts';
import { WORKFLOWS_PATH } from '../../src/worker/start-worker.ts';
import { freePorts } from '../support/ports.ts';
import { ENV } from './test-environment.ts';

export const TEMPLATE_DATABASE = 'flags_template';
/** The application's login role on a TEST_DATABASE_URL server (the embedded one makes its own). */
const TEST_APPLICATION_ROLE = 'flags_test_app';

export default async function globalSetup(globalConfig: { maxWorkers: number }): Promise<void> {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'test-setup');
  const scratchDir = mkdtempSync(join(tmpdir(), 'flags-test-'));
  // PostgreSQL runs as its own user when we are root, and must be able to reach its folder.
  chmodSync(scratchDir, 0o755);
  process.env[ENV.scratchDir] = scratchDir;
  const stops: (() => Promise<void>)[] = [];
  (globalThis as { __flagsTestStops?: typeof stops }).__flagsTestStops = stops;

  // The same split as production: migrations run as the owner (here a superuser), the API and the
  // workers connect as the application's role, which cannot rewrite the audit log.
  let adminUrl = process.env.TEST_DATABASE_URL;
  let appUrl: string;
  if (!adminUrl) {
    const postgres = await startEmbeddedPostgres({ dataDir: join(scratchDir, 'pg'), port: await freePorts(1), log });
    stops.push(postgres.stop);
    adminUrl = postgres.migrationDatabaseUrl.replace(/\/flags$/, '/postgres');
    appUrl = postgres.databaseUrl.replace(/\/flags$/, '/postgres');
  } else {
    const password = randomBytes(18).toString('base64url');
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await ensureApplicationRole(admin, TEST_APPLICATION_ROLE, password);
    await admin.end();
    const url = new URL(adminUrl);
    url.username = TEST_APPLICATION_ROLE;
    url.password = password;
    appUrl = url.toString();
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE}`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();
  await migrate({ databaseUrl: adminUrl.replace(/\/[^/]*$/, `/${TEMPLATE_DATABASE}`) });
  process.env[ENV.adminDatabaseUrl] = adminUrl;
  process.env[ENV.appDatabaseUrl] = appUrl;
  process.env[ENV.templateDatabase] = TEMPLATE_DATABASE;

  let temporalAddress = process.env.TEST_TEMPORAL_ADDRESS;
  const namespace = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default';
  if (!temporalAddress) {
    // Test files run side by side in Jest's workers and name workflows by business keys
    // (`rollout:<flagKey>`): a namespace per worker keeps two files' workflows, searches and
    // schedules apart, as separate runs of the suite would be.
    const workerNamespacePrefix = `${namespace}-worker-`;
    const port = await freePorts(3);
    const temporal = await startTemporalDevServer({
      cliPath: findTemporalCli(process.env, (message) => log.warn(message)),
      dataDir: join(scratchDir, 'temporal'),
      port,
      uiPort: await freePorts(1),
      namespace,
      extraNamespaces: Array.from({ length: globalConfig.maxWorkers }, (_, index) => `${workerNamespacePrefix}${index + 1}`),
      log,
    });
    stops.push(temporal.stop);
    temporalAddress = temporal.address;
    process.env[ENV.workerNamespacePrefix] = workerNamespacePrefix;
  }
  process.env[ENV.temporalAddress] = temporalAddress;
  process.env[ENV.temporalNamespace] = namespace;

  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  const bundlePath = join(scratchDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  process.env[ENV.workflowBundlePath] = bundlePath;
}

const quietBundlerLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};
