/** What global set-up hands every test file, through environment variables (Jest workers inherit them). */
export const ENV = {
  /** A superuser URL on the test PostgreSQL's `postgres` database, for creating per-file databases; it also runs the migrations, as the owner does in production. */
  adminDatabaseUrl: 'FLAGS_TEST_ADMIN_DATABASE_URL',
  /** The application's role (a member of flags_application), as the API and the worker connect in production. */
  appDatabaseUrl: 'FLAGS_TEST_APP_DATABASE_URL',
  /** The database that holds the migrated schema every per-file database is cloned from. */
  templateDatabase: 'FLAGS_TEST_TEMPLATE_DATABASE',
  temporalAddress: 'FLAGS_TEST_TEMPORAL_ADDRESS',
  temporalNamespace: 'FLAGS_TEST_TEMPORAL_NAMESPACE',
  /** The workflows bundled once, so each test worker skips webpack. */
  workflowBundlePath: 'FLAGS_TEST_WORKFLOW_BUNDLE',
  /** A scratch folder removed at the end of the run. */
  scratchDir: 'FLAGS_TEST_SCRATCH_DIR',
} as const;

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through npm test (jest's global set-up sets it)`);
  return value;
}
