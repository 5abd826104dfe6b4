// The tools the tests install on first need (each pinned, into .tools/), installed up front: `npm test`
// runs this beside the typecheck, the lint and the suite, so a fresh checkout's downloads and builds
// overlap one another and the tests that need none of them. Each tool installs in a process of its
// own (each installer waits on its download or build synchronously); when one has ended, a file
// named after it appears in FLAGS_TEST_TOOLS_DONE_DIR, which the test that needs it waits for
// (test/support/test-tools.ts). The Temporal CLI is not here: Jest's global set-up needs it first.
// `node scripts/install-test-tools.ts` installs them all; `… <name>` installs one.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV } from '../test/setup/test-environment.ts';
import { ensureSchemathesis } from '../test/support/schemathesis.ts';
import { TEST_TOOLS, type TestTool } from '../test/support/test-tools.ts';
import { ensureChromium } from './tools/chromium.ts';
import { ensureKubernetesTools } from './tools/kubernetes.ts';
import { ensurePrometheus } from './tools/prometheus.ts';

const log = (message: string): void => void process.stderr.write(`${message}\n`);

const INSTALLERS: Record<TestTool, () => unknown> = {
  chromium: () => ensureChromium({ log }),
  prometheus: () => ensurePrometheus({ log }),
  kubernetes: () => ensureKubernetesTools({ log }),
  schemathesis: () => ensureSchemathesis(log),
};

function installInChild(tool: TestTool): Promise<{ tool: TestTool; ok: boolean; seconds: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, tool], { stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const doneDir = process.env[ENV.toolsDoneDir];
      if (doneDir) writeFileSync(join(doneDir, tool), code === 0 ? 'installed\n' : 'failed\n');
      resolve({ tool, ok: code === 0, seconds: (Date.now() - started) / 1000 });
    });
  });
}

const only = process.argv[2];
if (only) {
  const install = INSTALLERS[only as TestTool];
  if (!install) throw new Error(`no tool named ${only}; known: ${TEST_TOOLS.join(', ')}`);
  install();
} else {
  const results = await Promise.all(TEST_TOOLS.map(installInChild));
  for (const { tool, ok, seconds } of results) log(`${tool}: ${ok ? 'ready' : 'FAILED'} (${seconds.toFixed(1)} s)`);
  process.exitCode = results.every((result) => result.ok) ? 0 : 1;
}
