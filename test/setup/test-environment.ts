/** What global set-up hands every test file, through environment variables (Jest workers inherit them). */
export const ENV = {
  /** A superuser URL on the test PostgreSQL's `postgres` database, for creating per-file databases; it also runs the migrations, as the owner does in production. */
  adminDatabaseUrl: 'FLAGS_TEST_ADMIN_DATABASE_URL',
  /** The application's role (a member of flags_application), as the API and the worker connect in production. */
  appDatabaseUrl: 'FLAGS_TEST_APP_DATABASE_URL',
  /** The database that holds the migrated schema every per-file database is cloned from. */
  templateDatabase: 'FLAGS_TEST_TEMPLATE_DATABASE',
  temporalAddress: 'FLAGS_TEST_TEMPORAL_ADDRESS',
  /** The namespace this test file runs its workflows in: its Jest worker's own on the suite's server (see worker-namespace.ts). */
  temporalNamespace: 'FLAGS_TEST_TEMPORAL_NAMESPACE',
  /** Set when the suite's own server has one namespace per Jest worker: the name before the worker's number. */
  workerNamespacePrefix: 'FLAGS_TEST_WORKER_NAMESPACE_PREFIX',
  /** The workflows bundled once, so each test worker skips webpack. */
  workflowBundlePath: 'FLAGS_TEST_WORKFLOW_BUNDLE',
  /** Set by npm test: a folder where scripts/install-test-tools.ts marks each tool whose install has ended (see support/test-tools.ts). */
  toolsDoneDir: 'FLAGS_TEST_TOOLS_DONE_DIR',
  /** A scratch folder removed at the end of the run. */
  scratchDir: 'FLAGS_TEST_SCRATCH_DIR',
} as const;

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through npm test (jest's global set-up sets it)`);
  return value;
}
