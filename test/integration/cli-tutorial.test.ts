// docs/cli.md's tutorial, command by command, against two real deployments (staging and
// production), so the tutorial cannot rot.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { runCli } from '../support/cli.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type RolloutHarness } from '../support/rollout-harness.ts';

/** The commands of the doc's tutorial: every line of its sh blocks, split as a shell would (double quotes only). */
function tutorialCommands(markdown: string): string[][] {
  const tutorial = markdown.slice(markdown.indexOf('## Tutorial'));
  const blocks = [...tutorial.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
  return blocks.flatMap((block) => block.trim().split('\n')).map((line) => [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2]!));
}

describe('the CLI tutorial in docs/cli.md', () => {
  let staging: RolloutHarness;
  let production: RolloutHarness;
  let folder: string;

  beforeAll(async () => {
    quietTemporal();
    staging = await startRolloutHarness();
    production = await startRolloutHarness({ worker: false });
    folder = mkdtempSync(join(tmpdir(), 'flagship-tutorial-'));
    writeFileSync(join(folder, 'config.yaml'), stringify({ profiles: { staging: { url: staging.api.baseUrl, token: staging.api.adminToken }, production: { url: production.api.baseUrl, token: production.api.adminToken } } }));
  });
  afterAll(async () => {
    await staging.close();
    await production.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('runs every command of the tutorial, and production ends up with the flag staging has', async () => {
    const commands = tutorialCommands(readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8'));
    expect(commands.length).toBeGreaterThanOrEqual(10);
    for (const [program, ...args] of commands) {
      expect(program).toBe('flagship');
      const run = await runCli(args, { cwd: folder, env: { FLAGSHIP_CONFIG: join(folder, 'config.yaml') } });
      expect({ command: args.join(' '), code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ command: args.join(' '), code: 0, stderr: '' });
      if (args.includes('rollout') && args.includes('start')) await staging.waitForRollout('new-checkout', (rollout) => rollout.currentStep === 0, 'first step applied');
      if (args.includes('kill')) expect((await staging.api.request('POST', '/v1/evaluate', { body: { flagKey: 'new-checkout', context: { userId: 'u-1' } } })).body.reason).toBe('off');
    }
    const promoted = await production.flag('new-checkout');
    expect(promoted).toMatchObject({ description: 'New checkout flow', killswitch: 'checkout', rollout: { percentage: 10 } });
  });
});
