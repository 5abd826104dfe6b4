// The layer rules of eslint.config.js, proved both ways: each layer's file, given an import from a
// layer above it, fails lint, and given what it may import, passes. The code is linted as if it
// were an existing file of that folder (the type-aware rules need a file the TypeScript project
// knows); nothing is written to disk.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

const ROOT = new URL('../../', import.meta.url).pathname;

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT });
});

/** What lint reports for `code` placed at `filePath`: each message's rule id and line. */
async function lint(filePath: string, code: string): Promise<{ ruleId: string; line: number }[]> {
  const [result] = await eslint.lintText(code, { filePath });
  const messages = result?.messages ?? [];
  const fatal = messages.find((message) => message.fatal);
  if (fatal) throw new Error(`${filePath}: ${fatal.message}`);
  return messages.map((message) => ({ ruleId: message.ruleId ?? '', line: message.line }));
}

async function ruleIdsOf(filePath: string, code: string): Promise<string[]> {
  return (await lint(filePath, code)).map((message) => message.ruleId);
}

const RESTRICTED = /^(@typescript-eslint\/)?no-restricted-imports$/;

/** Each layer: a file in it, an import that crosses the boundary upward, and imports it may make. */
const LAYERS: { layer: string; file: string; forbidden: string[]; allowed: string[] }[] = [
  {
    layer: 'engine',
    file: 'src/engine/deep-equal.ts',
    forbidden: ["import { AppError } from '../errors.ts';", "import { sql } from 'slonik';"],
    allowed: ["import { z } from 'zod';", "import { hashBucket } from './hash.ts';"],
  },
  {
    layer: 'domain',
    file: 'src/domain/duration.ts',
    forbidden: ["import { getFlag } from '../data/flags.ts';", "import { pauseSignal } from '../workflows/rollout-definitions.ts';", "import { readFileSync } from 'node:fs';"],
    allowed: ["import { validateFlag } from '@flagship/engine/validate';", "import { AppError } from '../errors.ts';", "import { z } from 'zod';", "import { parseDuration } from './duration.ts';"],
  },
  {
    layer: 'data',
    file: 'src/data/sql.ts',
    forbidden: [
      "import { createApp } from '../api/app.ts';",
      "import { createActivities } from '../activities/index.ts';",
      "import { rolloutWorkflowId } from '../workflows/rollout-definitions.ts';",
      "import type { RolloutStatus } from '../workflows/rollout-definitions.ts';",
      "import { ChangeFeed } from '../events/change-feed.ts';",
      "import { Client } from '@temporalio/client';",
      "import Koa from 'koa';",
    ],
    allowed: ["import { validateFlag } from '@flagship/engine/validate';", "import { ACTIVE_ROLLOUT_STATES } from '../domain/rollout-state.ts';", "import { AppError } from '../errors.ts';", "import { createPool } from 'slonik';"],
  },
  {
    layer: 'activities',
    file: 'src/activities/with-heartbeat.ts',
    forbidden: ["import { planSchema } from '../api/rollout-routes.ts';", "import { rolloutWorkflow } from '../workflows/rollout-workflow.ts';", "import { startWorker } from '../worker/start-worker.ts';"],
    allowed: ["import { getFlag } from '../data/flags.ts';", "import { planSchema } from '../domain/rollout-plan.ts';", "import type { RolloutWorkflowInput } from '../workflows/rollout-definitions.ts';", "import { Context } from '@temporalio/activity';"],
  },
  {
    layer: 'api',
    file: 'src/api/pagination.ts',
    forbidden: ["import { createActivities } from '../activities/index.ts';", "import { rolloutWorkflow } from '../workflows/rollout-workflow.ts';", "import { startWorker } from '../worker/start-worker.ts';", "import { sleep } from '@temporalio/workflow';"],
    allowed: ["import type { rolloutWorkflow } from '../workflows/rollout-workflow.ts';", "import { statusQuery } from '../workflows/rollout-definitions.ts';", "import { getFlag } from '../data/flags.ts';", "import { Client } from '@temporalio/client';"],
  },
  {
    layer: 'workflows',
    file: 'src/workflows/retention-definitions.ts',
    forbidden: ["import { getFlag } from '../data/flags.ts';", "import { createActivities } from '../activities/index.ts';", "import { logger } from '../log.ts';", "import { Client } from '@temporalio/client';"],
    allowed: ["import type { createActivities } from '../activities/index.ts';", "import { sleep } from '@temporalio/workflow';", "import { describeRollout } from '../domain/rollout-format.ts';"],
  },
  {
    layer: 'events',
    file: 'src/events/wakeup.ts',
    forbidden: ["import { createApp } from '../api/app.ts';", "import { rolloutWorkflowId } from '../workflows/rollout-definitions.ts';", "import { Client } from '@temporalio/client';"],
    allowed: ["import { listEventsAfter } from '../data/outbox.ts';", "import { OutboundClient } from '../outbound/outbound-client.ts';"],
  },
  {
    layer: 'outbound',
    file: 'src/outbound/outbound-policy.ts',
    forbidden: ["import { getFlag } from '../data/flags.ts';", "import { createApp } from '../api/app.ts';"],
    allowed: ["import { AppError } from '../errors.ts';", "import { lookup } from 'node:dns/promises';"],
  },
  {
    layer: 'snapshots',
    file: 'src/snapshots/snapshot-store.ts',
    forbidden: ["import { createApp } from '../api/app.ts';", "import { createActivities } from '../activities/index.ts';"],
    allowed: ["import { getFlag } from '../data/flags.ts';", "import { verifySnapshot } from '@flagship/sdk';"],
  },
  {
    layer: 'worker',
    file: 'src/worker/ensure-schedule.ts',
    forbidden: ["import { startApi } from '../launcher/main.ts';", "import Koa from 'koa';"],
    allowed: ["import { createActivities } from '../activities/index.ts';", "import { rolloutWorkflow } from '../workflows/rollout-workflow.ts';"],
  },
  {
    layer: 'sdk',
    file: 'packages/sdk/src/types.ts',
    forbidden: ["import { AppError } from '../../../src/errors.ts';", "import { getFlag } from '../../../src/data/flags.ts';", "import { Client } from '@temporalio/client';"],
    allowed: ["import { LRUCache } from 'lru-cache';", "import { compileFlagSet } from '@flagship/engine';", "import { createClient } from './client.ts';"],
  },
];

// One lint per layer and way (a type-aware lint costs about half a second): every forbidden
// statement is on its own line, and each line must be refused.
describe('layer boundaries', () => {
  describe.each(LAYERS)('$layer ($file)', ({ file, forbidden, allowed }) => {
    it('refuses each upward import', async () => {
      const refusedLines = new Set((await lint(file, `${forbidden.join('\n')}\n`)).filter((message) => RESTRICTED.test(message.ruleId)).map((message) => message.line));
      expect(forbidden.filter((_, index) => !refusedLines.has(index + 1))).toEqual([]);
    });

    it('allows its own dependencies', async () => {
      const restricted = (await ruleIdsOf(file, `${allowed.join('\n')}\n`)).filter((ruleId) => RESTRICTED.test(ruleId));
      expect(restricted).toEqual([]);
    });
  });
});

describe('promises', () => {
  const file = 'src/api/pagination.ts';
  const start = 'async function save(): Promise<void> {}\n';

  it('refuses a promise nobody awaits', async () => {
    expect(await ruleIdsOf(file, `${start}export function handle(): void {\n  save();\n}\n`)).toContain('@typescript-eslint/no-floating-promises');
  });

  it('accepts an awaited promise and one explicitly left to run', async () => {
    const code = `${start}export async function handle(): Promise<void> {\n  await save();\n  void save().catch(() => undefined);\n}\n`;
    expect(await ruleIdsOf(file, code)).not.toContain('@typescript-eslint/no-floating-promises');
  });

  it('refuses an async function where a callback must return nothing', async () => {
    const code = `${start}export function handle(items: string[]): void {\n  items.forEach(async () => { await save(); });\n}\n`;
    expect(await ruleIdsOf(file, code)).toContain('@typescript-eslint/no-misused-promises');
  });
});
