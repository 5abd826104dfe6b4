// Runs before each integration test file, in its Jest worker: on the suite's own Temporal server,
// the file's workflows go to its worker's namespace (global-setup.ts made one per worker), so files
// running at the same moment never meet. A server of your own (TEST_TEMPORAL_ADDRESS) keeps its one
// namespace for every file.
import { ENV } from './test-environment.ts';

const prefix = process.env[ENV.workerNamespacePrefix];
if (prefix) process.env[ENV.temporalNamespace] = `${prefix}${process.env.JEST_WORKER_ID ?? '1'}`;
