// Native ESM throughout: Node 24 strips types at run time, and Jest (run with
// --experimental-vm-modules by the npm scripts) gets the same ES modules through @swc/jest.
const transform = {
  '^.+\\.ts$': ['@swc/jest', {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2024' },
    module: { type: 'es6' },
  }],
};
// Each test file's temporary folder is its own, removed when the file ends (test/setup/scratch-environment.ts).
const common = { testEnvironment: '<rootDir>/test/setup/scratch-environment.ts', extensionsToTreatAsEsm: ['.ts'], transform };

export default {
  testTimeout: 60000,
  // Integration files spend much of their time waiting on PostgreSQL, Temporal, timers and child
  // processes, so two files at once keep two cores busier than one (Jest's default, cores - 1, runs
  // every file one after another here); a third made the busiest files miss their time bounds.
  maxWorkers: 2,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/engine/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
      setupFiles: ['<rootDir>/test/setup/worker-namespace.ts'],
    },
  ],
};
