import Router from '@koa/router';
import { z } from 'zod';
import { activeRolloutsInCategory, getKillswitch, listKillswitches, rolloutsOwedKillswitchPause, setKillswitch, type RolloutRef } from '../data/killswitches.ts';
import { AppError } from '../errors.ts';
import type { ApiDependencies } from './dependencies.ts';
import { dryRunOf } from '../data/write-transaction.ts';
import { answerDryRun, dryRunQuery, impactOf, orDryRun } from './dry-run.ts';
import type { RouteRegistry } from './route.ts';

const categoryParams = z.object({ category: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, 'a category is a key: lower-case letters, digits, ".", "_", "-"') });
const reasonBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();
const killswitchSchema = z.object({
  category: z.string(),
  engaged: z.boolean(),
  reason: z.string().nullable(),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
  flags: z.array(z.string()).describe('The active flags of the category.'),
});
const rolloutRefSchema = z.object({ flagKey: z.string(), rolloutId: z.string() });

/** What the engage answer says about the rollouts it pauses, since that happens after the answer. */
const PAUSING_NOTE = 'A worker pauses these rollouts (cause killswitch) as soon as Temporal answers, usually within a second; until then their steps hold, because no step is applied while the category is engaged.';

/**
 * Killswitches: engage or release a category, turning all its flags off (reason `off`) or back in
 * one call, no approval needed (the emergency path); list categories with their state and flags.
 * Nothing here waits on Temporal: the rollouts an engage pauses are paused by a worker.
 */
export function killswitchRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'killswitches';

  const refs = (list: Pick<RolloutRef, 'flagKey' | 'rolloutId'>[]) => list.map(({ flagKey, rolloutId }) => ({ flagKey, rolloutId }));

  registry.add(router, {
    method: 'get', operationId: 'listKillswitches', path: '/v1/killswitches', tag, scope: ['feature_flag:killswitch', 'feature_flag:manage'],
    summary: "Killswitch categories (named by flags' killswitch field, or engaged before), with their state and active flags.",
    responses: { 200: { description: 'Every category.', schema: z.object({ items: z.array(killswitchSchema) }) } },
    async handler(ctx) {
      ctx.body = { items: await listKillswitches(deps.db) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getKillswitch', path: '/v1/killswitches/:category', tag, scope: ['feature_flag:killswitch', 'feature_flag:manage'],
    summary: 'One category: its state and its active flags.',
    params: categoryParams,
    responses: { 200: { description: 'The category.', schema: killswitchSchema } },
    async handler(ctx, { params }) {
      const killswitch = await getKillswitch(deps.db, params.category);
      if (!killswitch.updatedAt && killswitch.flags.length === 0) throw new AppError('not_found', `no flag is in killswitch category "${params.category}" and it was never engaged`);
      ctx.body = killswitch;
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'engageKillswitch', path: '/v1/killswitches/:category/engage', tag, scope: 'feature_flag:killswitch',
    summary: 'Engage: every flag of the category evaluates to its offValue with reason off, on every API process within a second and in the next snapshot; a worker pauses the running rollouts of those flags. No approval needed, and nothing waits on Temporal.',
    params: categoryParams,
    body: reasonBody,
    query: z.object(dryRunQuery),
    responses: {
      200: {
        description: 'The category, engaged (changed false when it already was), and the running rollouts of its flags that a worker pauses next; with dryRun=true, the dry run\'s answer (docs/impact-preview.md), whose impact shows what it would turn off.',
        schema: orDryRun(killswitchSchema.extend({ changed: z.boolean(), rollouts: z.object({ pausing: z.array(rolloutRefSchema), note: z.string() }) })),
      },
    },
    async handler(ctx, { params, body, query, principal }) {
      if (query.dryRun === 'true') {
        const change = await setKillswitch(dryRunOf(deps.db), params.category, true, { actor: principal.actor, ...(body?.reason ? { reason: body.reason } : {}) });
        return answerDryRun(ctx, {
          before: { engaged: !change.changed }, after: { engaged: true }, wouldWrite: { ...change.killswitch, changed: change.changed }, approvalRequired: null, warnings: [],
          impact: await impactOf(deps, { kind: 'killswitch', category: params.category, engaged: true }),
        });
      }
      const change = await setKillswitch(deps.db, params.category, true, { actor: principal.actor, ...(body?.reason ? { reason: body.reason } : {}) });
      // Read-your-write: this process answers off before it answers the caller.
      if (change.changed) deps.flagSet.applyKillswitches(change.engaged);
      const pausing = await rolloutsOwedKillswitchPause(deps.db, params.category);
      ctx.body = { ...change.killswitch, changed: change.changed, rollouts: { pausing: refs(pausing), note: PAUSING_NOTE } };
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'releaseKillswitch', path: '/v1/killswitches/:category/release', tag, scope: 'feature_flag:killswitch',
    summary: 'Release: the flags of the category evaluate normally again. Rollouts the engage paused stay paused; resume each deliberately.',
    params: categoryParams,
    body: reasonBody,
    query: z.object(dryRunQuery),
    responses: {
      200: {
        description: 'The category, released (changed false when it was not engaged), and the rollouts still paused by the killswitch; with dryRun=true, the dry run\'s answer.',
        schema: orDryRun(killswitchSchema.extend({ changed: z.boolean(), rollouts: z.object({ stillPaused: z.array(rolloutRefSchema) }) })),
      },
    },
    async handler(ctx, { params, body, query, principal }) {
      if (query.dryRun === 'true') {
        const change = await setKillswitch(dryRunOf(deps.db), params.category, false, { actor: principal.actor, ...(body?.reason ? { reason: body.reason } : {}) });
        return answerDryRun(ctx, {
          before: { engaged: change.changed }, after: { engaged: false }, wouldWrite: { ...change.killswitch, changed: change.changed }, approvalRequired: null, warnings: [],
          impact: await impactOf(deps, { kind: 'killswitch', category: params.category, engaged: false }),
        });
      }
      const change = await setKillswitch(deps.db, params.category, false, { actor: principal.actor, ...(body?.reason ? { reason: body.reason } : {}) });
      if (change.changed) deps.flagSet.applyKillswitches(change.engaged);
      const stillPaused = (await activeRolloutsInCategory(deps.db, params.category)).filter((rollout) => rollout.state === 'paused' && rollout.pauseCause === 'killswitch');
      ctx.body = { ...change.killswitch, changed: change.changed, rollouts: { stillPaused: refs(stillPaused) } };
    },
  });

  return router;
}
