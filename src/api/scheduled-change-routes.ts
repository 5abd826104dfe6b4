import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Actor } from '../data/actor.ts';
import { auditView, getFlag, mergePatch } from '../data/flags.ts';
import { definitionOf } from '../domain/definition-of.ts';
import type { JsonChange } from '../data/json-diff.ts';
import {
  abandonScheduledChange,
  cancelScheduledChange,
  getScheduledChange,
  isOpen,
  listScheduledChanges,
  rescheduleScheduledChange,
  rescheduleScheduledChangeIn,
  SCHEDULED_CHANGE_STATUSES,
  scheduleChanges,
  scheduleChangesIn,
  scheduleDiff,
  type PlannedChange,
  type ScheduleApproval,
  type ScheduledChangeRecord,
  type ScheduleInput,
} from '../data/scheduled-changes.ts';
import { dryRunOf, type WriteTransaction } from '../data/write-transaction.ts';
import type { Flag } from '@flagship/engine';
import { AppError } from '../errors.ts';
import { FLAG_KEY_ATTRIBUTE } from '../workflows/rollout-definitions.ts';
import { formatUtc } from '../domain/rollout-format.ts';
import {
  rescheduleSignal,
  SCHEDULED_CHANGE_STATE_ATTRIBUTE,
  SCHEDULED_CHANGE_WORKFLOW_TYPE,
  SCHEDULED_FOR_ATTRIBUTE,
  type ScheduledChangeWorkflowInput,
} from '../workflows/scheduled-change-definitions.ts';
import type { scheduledChangeWorkflow } from '../workflows/scheduled-change-workflow.ts';
import { gateFlagChange } from './approval-gates.ts';
import { ApprovalNeeded, approvalOptionsSchema, changeRequestView, fileChangeRequest, newChangeRequestId, type ApprovalOptions } from './change-control.ts';
import type { ApiDependencies } from './dependencies.ts';
import { answerDryRun, dryRunQuery, flagWarnings, impactOf, notingApproval } from './dry-run.ts';
import type { RouteRegistry } from './route.ts';
import { callTemporal, temporalDeadline } from './workflow-calls.ts';
import { requiredVersion } from './versioning.ts';
import { scheduledChangeWorkflowId } from '../domain/workflow-ids.ts';
import { parseDuration } from '../domain/duration.ts';
import { iso } from './iso.ts';

const DAY_MS = 86_400_000;
/** A time further in the past than this is a mistake, not a change due at once (as for rollout steps). */
const MAX_PAST_MS = 5 * 60_000;
const MAX_AHEAD_MS = 366 * DAY_MS;
const MAX_CHANGES = 20;

const keyParams = z.object({ key: z.string().min(1).max(128) });
const idParams = keyParams.extend({ id: z.string().min(1).max(64) });
const scheduledChangeSchema = z.record(z.string(), z.unknown()).describe('A scheduled change: patch, time, status, outcome (docs/lifecycle.md).');
const when = {
  at: z.iso.datetime({ offset: true }).optional().describe('When to apply it (ISO 8601 with a zone); at most 5 minutes in the past (applied at once) and 366 days ahead.'),
  after: z.union([z.number().int().min(0), z.string().min(1).max(40)]).optional().describe('Or a delay from now: "90s", "2h", "3d", "PT30M", or milliseconds.'),
};
const patchSchema = z.record(z.string(), z.unknown()).describe('A JSON merge patch of the flag, as PATCH /v1/flags/{key} takes.');
const changeSchema = z.strictObject({ ...when, patch: patchSchema });
const scheduleBody = z.strictObject({
  ...when,
  patch: patchSchema.optional(),
  changes: z.array(changeSchema).min(1).max(MAX_CHANGES).optional().describe('Several changes at their times, applied in time order; each is checked onto what the earlier ones leave.'),
  version: z.number().int().min(1).optional().describe('The version the changes are scheduled against; or send If-Match.'),
  reason: z.string().max(500).optional(),
  approval: approvalOptionsSchema.optional(),
});
const rescheduleBody = z.strictObject({ ...when, reason: z.string().max(500).optional(), approval: approvalOptionsSchema.optional() });
const cancelBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();
const approvalRequired = { description: 'approval_required: the flag is high-impact; the scheduled change waits for a second person\'s approval (details name the change request).' };

/** The absolute time of `at` or `after`, checked against now; `path` names the field in errors. */
function runAtOf(timing: { at?: string | undefined; after?: string | number | undefined }, now: number, path: string): number {
  const invalid = (message: string) => new AppError('validation_error', `${path}: ${message}`, { issues: [{ path, message }] });
  if ((timing.at === undefined) === (timing.after === undefined)) throw invalid('give exactly one of at and after');
  let runAt: number;
  if (timing.at !== undefined) {
    runAt = Date.parse(timing.at);
  } else {
    const delay = parseDuration(timing.after ?? 0);
    if (delay === null) throw invalid('after is not a duration ("90s", "2h", "1d", "PT30M" or milliseconds)');
    runAt = now + delay;
  }
  if (runAt < now - MAX_PAST_MS) throw invalid('is more than 5 minutes in the past');
  if (runAt > now + MAX_AHEAD_MS) throw invalid('is more than 366 days ahead');
  return Math.max(runAt, now);
}

/** The wire form of a scheduled change. */
function scheduledChangeView(record: ScheduledChangeRecord, deps: Pick<ApiDependencies, 'temporal'>): Record<string, unknown> {
  const self = `/v1/flags/${record.flagKey}/scheduled-changes/${record.id}`;
  const uiUrl = deps.temporal.uiUrl;
  return {
    id: record.id,
    flagKey: record.flagKey,
    at: iso(record.runAt),
    patch: record.patch,
    baseVersion: record.baseVersion,
    expected: record.expected,
    status: record.status,
    createdBy: record.createdBy,
    reason: record.reason,
    changeRequestId: record.changeRequestId,
    approvedBy: record.approvedBy,
    result: record.result,
    failure: record.failure,
    workflowId: record.workflowId,
    createdAt: iso(record.createdAt),
    updatedAt: iso(record.updatedAt),
    finishedAt: iso(record.finishedAt),
    links: {
      self,
      flag: `/v1/flags/${record.flagKey}`,
      ...(isOpen(record) ? { cancel: `${self}/cancel`, reschedule: `${self}/reschedule` } : {}),
      ...(record.changeRequestId ? { changeRequest: `/v1/changes/${record.changeRequestId}` } : {}),
      temporalUi: uiUrl ? `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(deps.temporal.namespace)}/workflows/${encodeURIComponent(record.workflowId)}` : null,
    },
  };
}

/** Needs a second person, as a patch made now would: a change that sets or removes the mark, or any change to a flag that reaches a high-impact one. */
async function requireApprovalForSchedule(flag: Flag, patches: readonly Record<string, unknown>[], tx: WriteTransaction): Promise<void> {
  if (patches.some((patch) => 'highImpact' in patch && patch.highImpact !== flag.highImpact)) {
    throw new ApprovalNeeded(`marking flag "${flag.key}" high-impact is itself a high-impact change`, flag.version);
  }
  await gateFlagChange(flag, tx);
}

/**
 * Scheduled changes: a merge patch (or several) applied to a flag at a chosen time by a durable
 * workflow each, through the normal write path; list, read, cancel and reschedule them.
 */
export function scheduledChangeRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'scheduled-changes';
  const temporal = deps.temporal;

  /** Starts each change's workflow; one that cannot start is marked failed, and the answer is `unavailable`. */
  async function startWorkflows(records: readonly ScheduledChangeRecord[]): Promise<void> {
    for (const record of records) {
      const input: ScheduledChangeWorkflowInput = { scheduledChangeId: record.id, flagKey: record.flagKey, runAt: record.runAt, createdBy: record.createdBy, fields: Object.keys(record.patch) };
      try {
        await callTemporal(temporal, 'starting the scheduled change workflow', temporalDeadline(temporal), () => temporal.client.workflow.start<typeof scheduledChangeWorkflow>(SCHEDULED_CHANGE_WORKFLOW_TYPE, {
          workflowId: record.workflowId,
          taskQueue: temporal.taskQueue,
          args: [input],
          workflowIdConflictPolicy: 'FAIL',
          typedSearchAttributes: [
            { key: FLAG_KEY_ATTRIBUTE, value: record.flagKey },
            { key: SCHEDULED_CHANGE_STATE_ATTRIBUTE, value: 'scheduled' },
            { key: SCHEDULED_FOR_ATTRIBUTE, value: new Date(record.runAt) },
          ],
          staticSummary: `Scheduled change: ${record.flagKey} (${input.fields.join(', ')}) at ${formatUtc(record.runAt)} by ${record.createdBy}`.slice(0, 400),
          staticDetails: [
            `**Flag** \`${record.flagKey}\` · scheduled against version ${record.baseVersion} by ${record.createdBy}${record.reason ? ` · ${record.reason}` : ''}`,
            `**Patch** \`${JSON.stringify(record.patch).slice(0, 1000)}\``,
            `Cancel or reschedule from the API: POST /v1/flags/${record.flagKey}/scheduled-changes/${record.id}/cancel | reschedule.`,
          ].join('\n'),
        }));
      } catch (error) {
        // Nothing would ever apply it: recorded as failed, and the answer says Temporal did not answer.
        await abandonScheduledChange(deps.db, record.id, { code: 'unavailable', message: `its workflow could not be started: ${error instanceof Error ? error.message : String(error)}` });
        throw error;
      }
    }
  }

  /**
   * Files the change request of a high-impact flag's scheduled changes: `prepare` writes them, pending
   * approval, in the request's transaction; `then` tells Temporal. Answers 202 approval_required.
   */
  async function requestApproval(
    ctx: Context,
    filing: { flagKey: string; baseVersion: number; requester: Actor; approval: ApprovalOptions | undefined; reason: string | undefined; why: string; content: ScheduleApproval },
    prepare: (tx: WriteTransaction, flag: Flag, requestId: string) => Promise<{ diff: JsonChange[]; records: ScheduledChangeRecord[] }>,
    then: (records: ScheduledChangeRecord[]) => Promise<void>,
  ): Promise<never> {
    const id = newChangeRequestId();
    let written: ScheduledChangeRecord[] = [];
    const reason = filing.approval?.reason ?? filing.reason;
    const request = await fileChangeRequest(deps, {
      id,
      kind: 'schedule',
      flagKey: filing.flagKey,
      change: filing.content as unknown as Record<string, unknown>,
      baseVersion: filing.baseVersion,
      requester: filing.requester,
      approval: { ...filing.approval, ...(reason ? { reason } : {}) },
      prepare: async (tx, flag) => {
        const prepared = await prepare(tx, flag, id);
        written = prepared.records;
        return prepared.diff;
      },
    });
    await then(written);
    ctx.set('Location', `/v1/changes/${request.id}`);
    throw new AppError('approval_required', `${filing.why}: the scheduled change waits for a second person with feature_flag:approve (change request ${request.id}, expires ${new Date(request.expiresAt).toISOString()}); approved, it is applied at its time`, {
      ...changeRequestView(request, deps),
      scheduledChanges: written.map((record) => scheduledChangeView(record, deps)),
    });
  }

  async function scheduledChangeOf(key: string, id: string): Promise<ScheduledChangeRecord> {
    const record = await getScheduledChange(deps.db, id);
    if (!record || record.flagKey !== key) throw new AppError('not_found', `flag "${key}" has no scheduled change "${id}"`);
    return record;
  }

  registry.add(router, {
    method: 'post', operationId: 'scheduleFlagChanges', path: '/v1/flags/:key/scheduled-changes', tag, scope: 'feature_flag:manage',
    summary: 'Schedule a merge patch (or several, each at its own time) to be applied to the flag later by a durable workflow; the version must be given as If-Match or "version".',
    params: keyParams,
    body: scheduleBody,
    query: z.object(dryRunQuery),
    responses: { 201: { description: 'The scheduled changes, in time order.', schema: z.object({ items: z.array(scheduledChangeSchema) }) }, 202: approvalRequired, 200: { description: 'dryRun=true: the changes as they would be recorded, and the diff, warnings and impact of the flag once all of them applied; nothing was written and no workflow started.' } },
    async handler(ctx, { params, body, query, principal }) {
      const { approval, version, reason, changes: many, patch, at, after } = body;
      if ((patch === undefined) === (many === undefined)) throw new AppError('validation_error', 'give either patch (with at or after) or changes', { issues: [{ path: 'patch', message: 'give either patch or changes' }] });
      const baseVersion = requiredVersion(ctx, version);
      const now = Date.now();
      const listed = many ?? [{ patch: patch ?? {}, ...(at !== undefined ? { at } : {}), ...(after !== undefined ? { after } : {}) }];
      if (many && (at !== undefined || after !== undefined)) throw new AppError('validation_error', 'with changes, each change has its own at or after', { issues: [{ path: 'at', message: 'give it per change' }] });
      const planned: PlannedChange[] = listed.map((change, index) => ({
        id: `sc_${randomUUID()}`,
        runAt: runAtOf(change, now, many ? `changes[${index}]` : 'at'),
        patch: change.patch,
      }));
      const input: ScheduleInput = {
        flagKey: params.key,
        baseVersion,
        changes: planned,
        requester: principal.actor,
        ...(reason ? { reason } : {}),
        workflowIdOf: scheduledChangeWorkflowId,
      };
      if (query.dryRun === 'true') {
        const noted = notingApproval(requireApprovalForSchedule);
        const records = await scheduleChanges(dryRunOf(deps.db), input, noted.guard);
        const current = (await getFlag(deps.db, params.key))!;
        // The flag once every change applied, in time order, as the workflows would leave it.
        const final = [...planned].sort((a, b) => a.runAt - b.runAt).reduce((definition, change) => mergePatch(definition, change.patch), definitionOf(current));
        const flag = { ...current, ...final };
        return answerDryRun(ctx, {
          before: auditView(current), after: auditView(flag), wouldWrite: { items: records.map((record) => scheduledChangeView(record, deps)) }, approvalRequired: noted.approval(),
          warnings: flagWarnings(deps, final), impact: await impactOf(deps, { kind: 'flag', key: flag.key, flag }),
        });
      }
      let records: ScheduledChangeRecord[];
      try {
        records = await scheduleChanges(deps.db, input, requireApprovalForSchedule);
      } catch (error) {
        if (!(error instanceof ApprovalNeeded)) throw error;
        const content: ScheduleApproval = {
          scheduledChanges: [...planned].sort((a, b) => a.runAt - b.runAt).map((change) => ({ id: change.id, at: new Date(change.runAt).toISOString(), patch: change.patch })),
        };
        return requestApproval(ctx, { flagKey: params.key, baseVersion, requester: principal.actor, approval, reason, why: error.message, content }, async (tx, flag, requestId) => {
          const diff = await scheduleDiff(tx, flag, input);
          return { diff, records: await scheduleChangesIn(tx, flag, input, { status: 'pending_approval', changeRequestId: requestId }) };
        }, startWorkflows);
      }
      await startWorkflows(records);
      ctx.status = 201;
      ctx.set('Location', `/v1/flags/${params.key}/scheduled-changes`);
      ctx.body = { items: records.map((record) => scheduledChangeView(record, deps)) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'listFlagScheduledChanges', path: '/v1/flags/:key/scheduled-changes', tag, scope: 'feature_flag:manage',
    summary: "The flag's scheduled changes in time order; by default the open ones (pending_approval, scheduled).",
    params: keyParams,
    query: z.object({
      status: z.string().regex(/^[a-z_]+(,[a-z_]+)*$/).max(200).optional().describe(`Comma-separated statuses: ${SCHEDULED_CHANGE_STATUSES.join(', ')}, or all.`),
      limit: z.coerce.number().int().min(1).max(500).default(100),
    }),
    responses: { 200: { description: 'Scheduled changes.', schema: z.object({ items: z.array(scheduledChangeSchema) }) } },
    async handler(ctx, { params, query }) {
      if (!(await getFlag(deps.db, params.key))) throw new AppError('not_found', `flag "${params.key}" does not exist`);
      const wanted = (query.status ?? 'pending_approval,scheduled').split(',');
      const unknown = wanted.filter((status) => status !== 'all' && !(SCHEDULED_CHANGE_STATUSES as readonly string[]).includes(status));
      if (unknown.length) throw new AppError('validation_error', `unknown status ${unknown.join(', ')}`, { issues: [{ path: 'status', message: `one of ${SCHEDULED_CHANGE_STATUSES.join(', ')}, all` }] });
      const statuses = wanted.includes('all') ? [] : SCHEDULED_CHANGE_STATUSES.filter((status) => wanted.includes(status));
      const records = await listScheduledChanges(deps.db, { flagKey: params.key, statuses, limit: query.limit });
      ctx.body = { items: records.map((record) => scheduledChangeView(record, deps)) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getFlagScheduledChange', path: '/v1/flags/:key/scheduled-changes/:id', tag, scope: 'feature_flag:manage',
    summary: 'One scheduled change: its time, patch, status and outcome.',
    params: idParams,
    responses: { 200: { description: 'The scheduled change.', schema: scheduledChangeSchema } },
    async handler(ctx, { params }) {
      ctx.body = scheduledChangeView(await scheduledChangeOf(params.key, params.id), deps);
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'cancelFlagScheduledChange', path: '/v1/flags/:key/scheduled-changes/:id/cancel', tag, scope: 'feature_flag:manage',
    summary: 'Cancel a scheduled change that has not fired (the same as the Temporal UI\'s Cancel on its workflow).',
    params: idParams,
    body: cancelBody,
    responses: { 200: { description: 'The scheduled change, cancelled.', schema: scheduledChangeSchema } },
    async handler(ctx, { params, body, principal }) {
      await scheduledChangeOf(params.key, params.id);
      const record = await cancelScheduledChange(deps.db, params.id, principal.actor, body?.reason ?? null);
      try {
        await callTemporal(temporal, 'cancelling the scheduled change workflow', temporalDeadline(temporal), () => temporal.client.workflow.getHandle(record.workflowId).cancel());
      } catch (error) {
        // The cancellation is recorded and the workflow would find it when it fires; a closed one has nothing to stop.
        if (!(error instanceof WorkflowNotFoundError)) deps.log.warn({ err: error, scheduledChangeId: record.id }, 'could not cancel the scheduled change workflow; it will find the change cancelled when it fires');
      }
      ctx.body = scheduledChangeView(record, deps);
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'rescheduleFlagScheduledChange', path: '/v1/flags/:key/scheduled-changes/:id/reschedule', tag, scope: 'feature_flag:manage',
    summary: 'Move a scheduled change that has not fired to another time; on a high-impact flag the move needs approval again.',
    params: idParams,
    body: rescheduleBody,
    responses: { 200: { description: 'The scheduled change at its new time.', schema: scheduledChangeSchema }, 202: approvalRequired },
    async handler(ctx, { params, body, principal }) {
      const before = await scheduledChangeOf(params.key, params.id);
      const runAt = runAtOf(body, Date.now(), 'at');
      const move = { runAt, by: principal.actor, reason: body.reason ?? null };
      let record: ScheduledChangeRecord;
      try {
        record = await rescheduleScheduledChange(deps.db, params.id, move, (flag, tx) => requireApprovalForSchedule(flag, [before.patch], tx));
      } catch (error) {
        if (!(error instanceof ApprovalNeeded)) throw error;
        const content: ScheduleApproval = { scheduledChanges: [{ id: before.id, at: new Date(runAt).toISOString(), patch: before.patch }] };
        return requestApproval(ctx, { flagKey: params.key, baseVersion: error.baseVersion, requester: principal.actor, approval: body.approval, reason: body.reason, why: error.message, content }, async (tx, _flag, requestId) => {
          const moved = await rescheduleScheduledChangeIn(tx, params.id, { ...move, changeRequestId: requestId });
          return { diff: [{ path: 'at', before: new Date(before.runAt).toISOString(), after: new Date(runAt).toISOString() }], records: [moved] };
        }, () => wake(before.workflowId, runAt));
      }
      await wake(record.workflowId, runAt);
      ctx.body = scheduledChangeView(record, deps);
    },
  });

  /** Tells the workflow of the new time; the stored time decides, so a lost signal only delays an earlier time to the old one. */
  async function wake(workflowId: string, runAt: number): Promise<void> {
    await callTemporal(temporal, 'telling the scheduled change workflow its new time', temporalDeadline(temporal), () => temporal.client.workflow.getHandle(workflowId).signal(rescheduleSignal, { runAt }));
  }

  return router;
}
