// Temporary (not committed): a dev server with a paused rollout in it, for the docs screenshot.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './src/activities/index.ts';
import { controlRollout, startRollout } from './src/api/rollout-control.ts';
import { planSchema } from './src/api/rollout-plan.ts';
import { createFlag } from './src/data/flags.ts';
import { migrate } from './src/data/migrate.ts';
import { createDatabasePool } from './src/data/pool.ts';
import { getRollout } from './src/data/rollouts.ts';
import { startEmbeddedPostgres } from './src/launcher/embedded-postgres.ts';
import { findTemporalCli } from './src/launcher/temporal-cli.ts';
import { startTemporalDevServer } from './src/launcher/temporal-dev-server.ts';
import { createLogger } from './src/log.ts';
import { WORKFLOWS_PATH } from './src/worker/start-worker.ts';
import { installTemporalRuntime } from './src/worker/temporal-runtime.ts';

const log = createLogger('warn', 'shot');
installTemporalRuntime(log, 'error');
const scratch = mkdtempSync(join(tmpdir(), 'shot-'));
chmodSync(scratch, 0o755);
const pg = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), port: 45432, log });
await migrate({ databaseUrl: pg.databaseUrl, log });
const temporal = await startTemporalDevServer({ cliPath: findTemporalCli(process.env), dataDir: join(scratch, 't'), port: 47233, uiPort: 48233, namespace: 'default', log });
const db = await createDatabasePool(pg.databaseUrl);
const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
writeFileSync(join(scratch, 'b.js'), bundle.code);
const nc = await NativeConnection.connect({ address: temporal.address });
const worker = await Worker.create({ connection: nc, namespace: 'default', taskQueue: 'flags', workflowBundle: { codePath: join(scratch, 'b.js') }, activities: createActivities({ db, log }) });
void worker.run();
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection, namespace: 'default' });
const deps = { db, log, temporal: { client, namespace: 'default', taskQueue: 'flags' } };
for (const [key, paused] of [['new-checkout', true], ['search-v2', false], ['dark-mode', false]] as const) {
  await createFlag(db, { key, type: 'boolean', defaultValue: false, description: key, rollout: { percentage: 5 } }, { actor: 'alice' });
  const record = await startRollout(deps, key, planSchema.parse({
    steps: [{ percentage: 25, after: '2s' }, { percentage: 50, after: '4h' }, { percentage: 100, after: '1d' }],
    reason: 'ramp up after the beta', onResume: 'shift_schedule',
  }), 'alice');
  while (((await getRollout(db, record.id))?.currentStep ?? -1) < 0) await new Promise((r) => setTimeout(r, 200));
  if (paused) await controlRollout(deps, key, 'pause', 'alice', 'error rate above 2% on checkout-api');
}
console.log('READY', temporal.uiUrl);
await new Promise(() => {});
