import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from '@jest/globals';
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import ScratchEnvironment from '../setup/scratch-environment.ts';

const config = { projectConfig: { testEnvironmentOptions: {}, globals: {}, fakeTimers: {} }, globalConfig: {} } as unknown as JestEnvironmentConfig;
const context = { console, docblockPragmas: {}, testPath: 'scratch.test.ts' } as unknown as EnvironmentContext;

it("gives a test file its own temporary folder and removes it, whatever was left in it, when the file ends", async () => {
  const before = new Set(readdirSync(tmpdir()));
  const previous = process.env.TMPDIR;
  const environment = new ScratchEnvironment(config, context);
  const created = readdirSync(tmpdir()).filter((name) => !before.has(name));
  expect(created).toEqual([expect.stringMatching(/^test-file-/)]);
  const scratch = join(tmpdir(), created[0]!);
  expect(process.env.TMPDIR).toBe(scratch);
  writeFileSync(join(scratch, 'a-data-folder-left-behind'), 'x');

  await environment.teardown();
  expect(existsSync(scratch)).toBe(false);
  expect(process.env.TMPDIR).toBe(previous);
});
