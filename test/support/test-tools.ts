// The tools tests install on first need, and how a test waits for one that `npm test` is installing
// beside the suite (scripts/install-test-tools.ts), so that it never starts a second install of the
// same tool into the same folder.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ENV } from '../setup/test-environment.ts';
import { eventually } from './eventually.ts';

export const TEST_TOOLS = ['chromium', 'prometheus', 'kubernetes', 'schemathesis'] as const;
export type TestTool = (typeof TEST_TOOLS)[number];

/** A fresh checkout builds kustomize and kubeconform from source, at low priority: minutes on a loaded machine. */
export const TOOL_INSTALL_TIMEOUT_MS = 15 * 60_000;

/**
 * Resolves once npm test's install of `tool` has ended (installed or failed: the test's own
 * installer then finds it, or tries again and says why not). Run without npm test, at once.
 */
export async function untilToolInstalled(tool: TestTool): Promise<void> {
  const doneDir = process.env[ENV.toolsDoneDir];
  if (doneDir) await eventually(() => existsSync(join(doneDir, tool)), Boolean, TOOL_INSTALL_TIMEOUT_MS, 250);
}
