import Router from '@koa/router';
import { z } from 'zod';
import { activeRolloutsInCategory, getKillswitch, listKillswitches, setKillswitch, type RolloutRef } from '../data/killswitches.ts';
import { AppError } from '../errors.ts';
import type { ApiDependencies } from './dependencies.ts';
import { controlRollout } from './rollout-control.ts';
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
const rolloutRefSchema = z.object({ flagKey: z.string(), rolloutId: z.string(), error: z.string().optional() });

/** How long an engage waits, in all, for the rollouts of the category to record their pause. */
const PAUSE_WAIT_MS = 5_000;

/**
 * Killswitches: engage or release a category, turning all its flags off (reason `off`) or back in
 * one call, no approval needed (the emergency path); list categories with their state and flags.
 */
export function killswitchRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'killswitches';

  /**
   * After the engage committed: pause the category's running rollouts (cause `killswitch`), best
   * effort. Their flags are off already and the step activity refuses to progress while the category
   * is engaged; the pause makes it visible and keeps the schedule from running on meanwhile.
   */
  async function pauseRollouts(category: string, by: string): Promise<{ paused: RolloutRef[]; failed: (RolloutRef & { error: string })[] }> {
    const active = (await activeRolloutsInCategory(deps.db, category)).filter((rollout) => rollout.state !== 'paused');
    const deadline = Date.now() + PAUSE_WAIT_MS;
    const outcomes = await Promise.allSettled(
      active.map((rollout) =>
        deps.temporal.client.withDeadline(deadline, () => controlRollout(deps, rollout.flagKey, 'pause', by, `killswitch "${category}" engaged`, 'killswitch')),
      ),
    );
    const paused: RolloutRef[] = [];
    const failed: (RolloutRef & { error: string })[] = [];
    outcomes.forEach((outcome, index) => {
      const rollout = active[index] as RolloutRef;
      if (outcome.status === 'fulfilled') {
        paused.push(rollout);
        return;
      }
      const error = outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason);
      deps.log.warn({ err: outcome.reason, category, flagKey: rollout.flagKey, rolloutId: rollout.rolloutId }, 'could not pause a rollout of an engaged killswitch category');
      failed.push({ ...rollout, error });
    });
    return { paused, failed };
  }

  const refs = (list: RolloutRef[]) => list.map(({ flagKey, rolloutId }) => ({ flagKey, rolloutId }));

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
    summary: 'Engage: every flag of the category evaluates to its offValue with reason off, on every API process within a second and in the next snapshot; running rollouts of those flags pause. No approval needed.',
    params: categoryParams,
    body: reasonBody,
    responses: {
      200: {
        description: 'The category, engaged (changed false when it already was), and the rollouts paused (or that could not be).',
        schema: killswitchSchema.extend({ changed: z.boolean(), rollouts: z.object({ paused: z.array(rolloutRefSchema), failed: z.array(rolloutRefSchema) }) }),
      },
    },
    async handler(ctx, { params, body, principal }) {
      const change = await setKillswitch(deps.db, params.category, true, { actor: principal.actor, ...(body?.reason ? { reason: body.reason } : {}) });
      // Read-your-write: this process answers off before it answers the caller.
      if (change.changed) deps.flagSet.applyKillswitches(change.engaged);
      const rollouts = await pauseRollouts(params.category, principal.actor.id).catch((error: unknown) => {
        deps.log.warn({ err: error, category: params.category }, 'could not pause the rollouts of an engaged killswitch category');
        return { paused: [], failed: [] };
      });
      ctx.body = { ...change.killswitch, changed: change.changed, rollouts: { paused: refs(rollouts.paused), failed: rollouts.failed.map(({ flagKey, rolloutId, error }) => ({ flagKey, rolloutId, error })) } };
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'releaseKillswitch', path: '/v1/killswitches/:category/release', tag, scope: 'feature_flag:killswitch',
    summary: 'Release: the flags of the category evaluate normally again. Rollouts the engage paused stay paused; resume each deliberately.',
    params: categoryParams,
    body: reasonBody,
    responses: {
      200: {
        description: 'The category, released (changed false when it was not engaged), and the rollouts still paused by the killswitch.',
        schema: killswitchSchema.extend({ changed: z.boolean(), rollouts: z.object({ stillPaused: z.array(rolloutRefSchema) }) }),
      },
    },
    async handler(ctx, { params, body, principal }) {
      const change = await setKillswitch(deps.db, params.category, false, { actor: principal.actor, ...(body?.reason ? { reason: body.reason } : {}) });
      if (change.changed) deps.flagSet.applyKillswitches(change.engaged);
      const stillPaused = (await activeRolloutsInCategory(deps.db, params.category)).filter((rollout) => rollout.state === 'paused' && rollout.pauseCause === 'killswitch');
      ctx.body = { ...change.killswitch, changed: change.changed, rollouts: { stillPaused: refs(stillPaused) } };
    },
  });

  return router;
}
