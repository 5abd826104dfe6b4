import Router from '@koa/router';
import { z } from 'zod';
import { getFlag } from '../data/flags.ts';
import {
  currentRolloutForFlag,
  getAutoProgress,
  listRollouts,
  listRolloutsForFlag,
  rolloutHistory,
  setAutoProgress,
  type RolloutHistoryEntry,
  type RolloutRecord,
} from '../data/rollouts.ts';
import { AppError } from '../errors.ts';
import { rolloutPercent } from '../domain/rollout-format.ts';
import { minimumDwellMs } from '../domain/rollout-schedule.ts';
import { gateFlagChange } from './approval-gates.ts';
import { ApprovalNeeded, approvalOptionsSchema, changeRequestView, fileChangeRequest } from './change-control.ts';
import type { ApiDependencies } from './dependencies.ts';
import { answerDryRun, dryRunQuery, dryRunResponse, notingApproval } from './dry-run.ts';
import { cancelRollout, controlRollout, resumeHeldRollouts, startRollout } from './rollout-control.ts';
import { refuseOutboundUrls } from './outbound-urls.ts';
import { gateUrls, normalizePlan, planSchema } from '../domain/rollout-plan.ts';
import type { RouteRegistry } from './route.ts';
import { ACTIVE_ROLLOUT_STATES, isActiveRollout, isRolloutState, ROLLOUT_STATES } from '../domain/rollout-state.ts';
import { temporalUiLink } from './workflow-calls.ts';
import { iso } from './iso.ts';

const keyParams = z.object({ key: z.string().min(1).max(128) });
const rolloutSchema = z.record(z.string(), z.unknown()).describe('A rollout: plan with target times, state, current step, next step, pause, history (docs/rollouts.md).');
const autoProgressSchema = z.object({ enabled: z.boolean(), reason: z.string().nullable(), updatedBy: z.string(), updatedAt: z.string() });
const controlBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();
const cancelBody = z
  .strictObject({
    rollback: z.boolean().default(false).describe('Restore the rollout the flag had when the plan started.'),
    reason: z.string().max(500).optional(),
  })
  .optional();

/**
 * When a step not applied yet is due as things stand: its target moved by shift_schedule resumes;
 * for the next step, what the workflow last recorded, which includes the minimum dwell.
 */
function dueAt(record: RolloutRecord, index: number): number {
  const scheduled = (record.plan.steps[index]?.targetAt ?? 0) + record.scheduleOffsetMs;
  return index === record.currentStep + 1 && record.nextStepAt !== null ? Math.max(scheduled, record.nextStepAt) : scheduled;
}

/** The wire form of a rollout; `history` only on the single-rollout reads. */
function rolloutView(record: RolloutRecord, history: RolloutHistoryEntry[] | undefined, deps: Pick<ApiDependencies, 'temporal'>): Record<string, unknown> {
  const applied = new Map((history ?? []).filter((entry) => entry.kind === 'step_applied').map((entry) => [entry.stepIndex, entry]));
  const active = isActiveRollout(record.state);
  return {
    id: record.id,
    flagKey: record.flagKey,
    state: record.state,
    workflowId: record.workflowId,
    runId: record.runId,
    startedBy: record.startedBy,
    reason: record.reason,
    onResume: record.plan.onResume,
    catchUp: record.plan.catchUp ?? 'dwell',
    minDwellMs: record.plan.minDwellMs ?? null,
    bucketBy: record.plan.bucketBy ?? null,
    startRollout: record.startRollout,
    rollout: record.expectedRollout,
    percentage: rolloutPercent(record.expectedRollout),
    currentStep: record.currentStep,
    steps: record.plan.steps.map((step, index) => {
      const entry = applied.get(index);
      return {
        index,
        rollout: step.rollout,
        percentage: rolloutPercent(step.rollout),
        plannedAt: iso(step.targetAt),
        dueAt: entry ? entry.targetAt : active ? iso(dueAt(record, index)) : null,
        appliedAt: entry?.at ?? null,
        driftMs: entry?.driftMs ?? null,
        minDwellMs: minimumDwellMs(record.plan, index),
        gate: step.gate ?? null,
      };
    }),
    scheduleOffsetMs: record.scheduleOffsetMs,
    nextStep: record.state === 'running' && record.currentStep + 1 < record.plan.steps.length && record.nextStepAt !== null
      ? { index: record.currentStep + 1, at: iso(record.nextStepAt) }
      : null,
    pause: record.pause ? { ...record.pause, at: iso(record.pause.at) } : null,
    rolledBack: record.rolledBack,
    endReason: record.endReason,
    createdAt: iso(record.createdAt),
    updatedAt: iso(record.updatedAt),
    finishedAt: iso(record.finishedAt),
    ...(history ? { history } : {}),
    links: {
      temporalUi: temporalUiLink(deps.temporal, record.workflowId, record.runId),
    },
  };
}

/**
 * Rollout plans run as Temporal workflows: start one, read it, pause, resume, cancel; list what is
 * running; the auto-progress circuit breaker.
 */
export function rolloutRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'rollouts';
  const full = async (record: RolloutRecord) => rolloutView(record, await rolloutHistory(deps.db, record.id), deps);

  registry.add(router, {
    method: 'post', operationId: 'scheduleRollout', path: '/v1/flags/:key/rollouts', tag, scope: 'feature_flag:manage',
    summary: 'Start a rollout plan: steps of { percentage | distribution, at | after, gate? } applied at their target times by a durable workflow.',
    params: keyParams,
    body: planSchema.extend({ approval: approvalOptionsSchema.optional() }),
    query: z.object(dryRunQuery),
    responses: {
      201: { description: 'The rollout, scheduled.', schema: rolloutSchema },
      200: { ...dryRunResponse, description: 'dryRun=true: the plan as it would be recorded, and per step the share of the flag\'s sampled contexts in the rollout; nothing was written and no workflow started.' },
      202: { description: 'approval_required: the flag is high-impact; the plan became a change request, and the rollout starts when a second person approves it (details name the request).' },
      503: { description: 'unavailable: Temporal did not answer within the bound. The plan is recorded (details name the rollout, scheduled) and a worker starts its workflow as soon as Temporal answers.' },
    },
    async handler(ctx, { params, body, query, principal }) {
      const { approval, ...plan } = body;
      await refuseOutboundUrls(deps.outbound, gateUrls(plan));
      if (query.dryRun === 'true') {
        const noted = notingApproval(gateFlagChange);
        const record = await startRollout(deps, params.key, plan, principal.actor.id, { guard: noted.guard, dryRun: true });
        const flag = await getFlag(deps.db, params.key);
        return answerDryRun(ctx, {
          before: null, after: null, wouldWrite: { state: record.state, flagKey: record.flagKey, plan: record.plan }, approvalRequired: noted.approval(), warnings: [],
          impact: flag && deps.previewer ? { steps: await deps.previewer.rolloutSteps(flag, record.plan.steps.map((step) => step.rollout)) } : null,
        });
      }
      let record: RolloutRecord;
      try {
        record = await startRollout(deps, params.key, plan, principal.actor.id, { guard: gateFlagChange });
      } catch (error) {
        if (!(error instanceof ApprovalNeeded)) throw error;
        const request = await fileChangeRequest(deps, {
          kind: 'rollout',
          flagKey: params.key,
          change: { plan },
          baseVersion: error.baseVersion,
          requester: principal.actor,
          ...(approval ? { approval } : {}),
          // Refused now if it could never start: the same validation, against the flag as it is.
          check: (flag) => void normalizePlan(plan, flag, Date.now()),
        });
        ctx.set('Location', `/v1/changes/${request.id}`);
        throw new AppError('approval_required', `${error.message}: the rollout plan waits for a second person with feature_flag:approve (change request ${request.id}, expires ${new Date(request.expiresAt).toISOString()}); it starts when approved, its step times counting from then`, changeRequestView(request, deps));
      }
      ctx.status = 201;
      ctx.set('Location', `/v1/flags/${params.key}/rollout`);
      ctx.body = await full(record);
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getRollout', path: '/v1/flags/:key/rollout', tag, scope: 'feature_flag:manage',
    summary: "The flag's running rollout, or its latest: plan, current step, state, next step time, pause, history.",
    params: keyParams,
    responses: { 200: { description: 'The rollout.', schema: rolloutSchema } },
    async handler(ctx, { params }) {
      const record = await currentRolloutForFlag(deps.db, params.key);
      if (!record) {
        const flag = await getFlag(deps.db, params.key);
        throw new AppError('not_found', flag ? `flag "${params.key}" has no rollout` : `flag "${params.key}" does not exist`);
      }
      // Our own record, kept by the workflow's activities; a worker's reconciler keeps it in line
      // with the workflow when the workflow cannot (docs/rollouts.md), so reading never waits on Temporal.
      ctx.body = await full(record);
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'listFlagRollouts', path: '/v1/flags/:key/rollouts', tag, scope: 'feature_flag:manage',
    summary: "The flag's rollouts, newest first (without history).",
    params: keyParams,
    query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
    responses: { 200: { description: 'Rollouts.', schema: z.object({ items: z.array(rolloutSchema) }) } },
    async handler(ctx, { params, query }) {
      if (!(await getFlag(deps.db, params.key))) throw new AppError('not_found', `flag "${params.key}" does not exist`);
      const records = await listRolloutsForFlag(deps.db, params.key, query.limit);
      ctx.body = { items: records.map((record) => rolloutView(record, undefined, deps)) };
    },
  });

  for (const action of ['pause', 'resume'] as const) {
    registry.add(router, {
      method: 'post', operationId: `${action}Rollout`, path: `/v1/flags/:key/rollout/${action}`, tag, scope: 'feature_flag:manage',
      summary: action === 'pause'
        ? 'Pause the running rollout before its next step (the same as the `pause` signal from the Temporal UI).'
        : 'Resume a paused rollout; the plan\'s onResume says what happens to steps that fell due meanwhile.',
      params: keyParams,
      body: controlBody,
      responses: { 200: { description: `The rollout, ${action === 'pause' ? 'paused' : 'running'} (a no-op when it already was).`, schema: rolloutSchema } },
      async handler(ctx, { params, body, principal }) {
        const { record } = await controlRollout(deps, params.key, action, principal.actor.id, body?.reason);
        ctx.body = await full(record);
      },
    });
  }

  registry.add(router, {
    method: 'post', operationId: 'cancelRollout', path: '/v1/flags/:key/rollout/cancel', tag, scope: 'feature_flag:manage',
    summary: 'Cancel the running rollout (Temporal cancellation, as the UI\'s Cancel button): the percentage stays, or rolls back to where the plan started.',
    params: keyParams,
    body: cancelBody,
    responses: { 200: { description: 'The rollout, cancelled (or still ending, if the worker is slow to answer).', schema: rolloutSchema } },
    async handler(ctx, { params, body, principal }) {
      const record = await cancelRollout(deps, params.key, { rollback: body?.rollback ?? false, by: principal.actor.id, ...(body?.reason ? { reason: body.reason } : {}) });
      ctx.body = await full(record);
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'listRollouts', path: '/v1/rollouts', tag, scope: 'feature_flag:manage',
    summary: 'Rollouts across all flags in the given states (default: scheduled, running and paused), oldest first.',
    query: z.object({
      state: z.string().regex(/^[a-z_]+(,[a-z_]+)*$/).optional().describe('Comma-separated states.'),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
    responses: { 200: { description: 'Rollouts (without history).', schema: z.object({ items: z.array(rolloutSchema) }) } },
    async handler(ctx, { query }) {
      const states = query.state ? query.state.split(',') : [...ACTIVE_ROLLOUT_STATES];
      const unknown = states.filter((state) => !isRolloutState(state));
      if (unknown.length) throw new AppError('validation_error', `unknown state ${unknown.join(', ')}`, { issues: [{ path: 'state', message: `one of ${ROLLOUT_STATES.join(', ')}` }] });
      const records = await listRollouts(deps.db, states.filter(isRolloutState), query.limit);
      ctx.body = { items: records.map((record) => rolloutView(record, undefined, deps)) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getAutoProgress', path: '/v1/rollouts/auto-progress', tag, scope: 'feature_flag:manage',
    summary: 'Whether rollouts progress on their own (the circuit breaker of every plan).',
    responses: { 200: { description: 'The setting.', schema: autoProgressSchema } },
    async handler(ctx) {
      ctx.body = await getAutoProgress(deps.db);
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'setAutoProgress', path: '/v1/rollouts/auto-progress', tag, scope: 'feature_flag:admin',
    summary: 'Disable (or enable again) all automatic progression: while disabled, no rollout applies a step; rollouts that reach one hold, paused with cause auto_progress, and continue when it is enabled again.',
    body: z.strictObject({ enabled: z.boolean(), reason: z.string().max(500).optional() }),
    responses: { 200: { description: 'The setting, and the flags whose held rollouts were resumed.', schema: autoProgressSchema.extend({ resumed: z.array(z.string()) }) } },
    async handler(ctx, { body, principal }) {
      const setting = await setAutoProgress(deps.db, body.enabled, { actor: principal.actor.id, ...(body.reason ? { reason: body.reason } : {}) });
      const resumed = body.enabled ? await resumeHeldRollouts(deps, principal.actor.id) : [];
      ctx.body = { ...setting, resumed };
    },
  });

  return router;
}
