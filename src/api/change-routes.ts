import Router from '@koa/router';
import { z } from 'zod';
import { getChangeRequest, listChangeRequests, type ChangeRequestRecord } from '../data/change-requests.ts';
import { getFlag } from '../data/flags.ts';
import { getSegment, segmentDefinition } from '../data/segments.ts';
import { AppError, ERROR_STATUS, type ErrorCode } from '../errors.ts';
import { hasScope } from './auth.ts';
import { assertMayApprove } from './approval-gates.ts';
import { changeRequestView, decideChangeRequest } from './change-control.ts';
import { changeRequestImpact } from './change-impact.ts';
import type { ApiDependencies } from './dependencies.ts';
import { pageQuery } from './pagination.ts';
import type { RouteRegistry } from './route.ts';
import { decodeCursor, encodeCursor } from './versioning.ts';
import { CHANGE_REQUEST_STATUSES, type ChangeRequestStatus, sameIdentity } from '../domain/change-request.ts';
import type { Principal } from './principal.ts';

const idParams = z.object({ id: z.string().min(1).max(100) });
const changeSchema = z.record(z.string(), z.unknown()).describe('A change request: the proposed change, its content hash, base version, status, who asked and decided, expiry, outcome (docs/approvals.md).');

/** A decision is a second person's: a service's token holds the scope for automation, never for that. */
function assertPerson(principal: Principal, verb: 'approve' | 'reject'): void {
  if (principal.ownerKind !== 'person') {
    throw new AppError('permission_denied', `only a person may ${verb} a change request; the token "${principal.name}" belongs to the service ${principal.actor.id}`);
  }
}

/**
 * Change requests: two-person approval of changes to high-impact flags. Filed by the flag and
 * rollout routes (202 approval_required); read, approved, rejected and cancelled here.
 */
export function changeRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'changes';
  const view = (record: ChangeRequestRecord) => changeRequestView(record, deps);

  /** Keeps this process's compiled set current with an approved change it carried out (read-your-write). */
  async function applyLocally(record: ChangeRequestRecord): Promise<void> {
    if (record.status !== 'applied' || record.kind === 'rollout') return;
    if (record.segmentKey) {
      const segment = await getSegment(deps.db, record.segmentKey);
      if (segment) deps.flagSet.applySegment(segment.key, segmentDefinition(segment));
      return;
    }
    const flag = await getFlag(deps.db, record.flagKey);
    if (flag) deps.flagSet.applyFlag(flag);
  }

  registry.add(router, {
    method: 'get', operationId: 'listChangeRequests', path: '/v1/changes', tag, scope: ['feature_flag:manage', 'feature_flag:approve'],
    summary: 'Change requests, newest first, filtered by status (comma-separated), flag or requester.',
    query: z.object({
      status: z.string().regex(/^[a-z]+(,[a-z]+)*$/).optional().describe(`Comma-separated: ${CHANGE_REQUEST_STATUSES.join(', ')}.`),
      flagKey: z.string().min(1).max(128).optional(),
      requestedBy: z.string().min(1).max(200).optional(),
      ...pageQuery(deps.maxPageSize),
    }),
    responses: { 200: { description: 'A page of change requests and the cursor of the next page (null on the last).', schema: z.object({ items: z.array(changeSchema), nextCursor: z.string().nullable() }) } },
    async handler(ctx, { query }) {
      const statuses = query.status ? query.status.split(',') : [];
      const unknown = statuses.filter((status) => !(CHANGE_REQUEST_STATUSES as readonly string[]).includes(status));
      if (unknown.length) {
        throw new AppError('validation_error', `unknown status ${unknown.join(', ')}`, { issues: [{ path: 'status', message: `one of ${CHANGE_REQUEST_STATUSES.join(', ')}` }] });
      }
      const before = decodeCursor<number>(query.cursor, 'number');
      const page = await listChangeRequests(deps.db, {
        limit: query.limit,
        statuses: statuses as ChangeRequestStatus[],
        ...(query.flagKey ? { flagKey: query.flagKey } : {}),
        ...(query.requestedBy ? { requestedBy: query.requestedBy } : {}),
        ...(before ? { before } : {}),
      });
      ctx.body = { items: page.items.map(view), nextCursor: encodeCursor(page.nextBefore) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getChangeRequest', path: '/v1/changes/:id', tag, scope: ['feature_flag:manage', 'feature_flag:approve'],
    summary: 'One change request: the proposed change and its diff, content hash, base version, status, decision, outcome.',
    params: idParams,
    responses: { 200: { description: 'The change request.', schema: changeSchema } },
    async handler(ctx, { params }) {
      const record = await getChangeRequest(deps.db, params.id);
      if (!record) throw new AppError('not_found', `change request "${params.id}" does not exist`);
      // Our own record; a worker's reconciler keeps it in line with its workflow when the workflow
      // cannot, so reading never waits on Temporal.
      ctx.body = view(record);
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getChangeRequestImpact', path: '/v1/changes/:id/impact', tag, scope: ['feature_flag:manage', 'feature_flag:approve'],
    summary: 'A change request\'s impact over the sampled contexts: as it was when filed, and recomputed now against the current flag set (docs/impact-preview.md).',
    params: idParams,
    responses: { 200: { description: '{ atFiling, now }: each { computedAt, summary, report }, or null when none could be computed (now: the change no longer applies to what is there).' } },
    async handler(ctx, { params }) {
      const record = await getChangeRequest(deps.db, params.id);
      if (!record) throw new AppError('not_found', `change request "${params.id}" does not exist`);
      ctx.body = { id: record.id, status: record.status, atFiling: record.impact, now: await changeRequestImpact(deps, record) };
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'approveChangeRequest', path: '/v1/changes/:id/approve', tag, scope: 'feature_flag:approve',
    summary: 'Approve as a second person (not the requester, and one of the approvers the request lists, if it lists any): the change is applied onto its base version, with both names in the audit entry. Answers once it is applied; a flag that moved meanwhile is version_conflict, recorded on the request.',
    params: idParams,
    body: z.strictObject({
      contentHash: z.string().max(100).optional().describe('The contentHash of the request you reviewed; a different one is version_conflict (default: the stored one).'),
      comment: z.string().max(500).optional(),
    }).optional(),
    responses: { 200: { description: 'The change request, applied (or still being applied, status approved).', schema: changeSchema } },
    async handler(ctx, { params, body, principal }) {
      assertPerson(principal, 'approve');
      const filed = await getChangeRequest(deps.db, params.id);
      if (filed) assertMayApprove(principal, filed);
      const record = await decideChangeRequest(deps, params.id, {
        action: 'approve',
        by: principal.actor,
        ...(body?.contentHash ? { contentHash: body.contentHash } : {}),
        ...(body?.comment ? { comment: body.comment } : {}),
      });
      await applyLocally(record);
      if (record.status === 'failed' && record.failure) {
        // The approval counted; the change could not be applied. Say why, with the contract's code.
        const known = record.failure.code in ERROR_STATUS && record.failure.code !== 'approval_required';
        throw new AppError(known ? (record.failure.code as ErrorCode) : 'internal', `approved, but the change could not be applied: ${record.failure.message}`, {
          ...(typeof record.failure.details === 'object' && record.failure.details !== null ? record.failure.details : {}),
          changeRequest: view(record),
        });
      }
      ctx.body = view(record);
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'rejectChangeRequest', path: '/v1/changes/:id/reject', tag, scope: 'feature_flag:approve',
    summary: 'Reject the change (not the requester, who cancels instead); nothing is applied.',
    params: idParams,
    body: z.strictObject({ reason: z.string().max(500).optional() }).optional(),
    responses: { 200: { description: 'The change request, rejected.', schema: changeSchema } },
    async handler(ctx, { params, body, principal }) {
      assertPerson(principal, 'reject');
      const record = await decideChangeRequest(deps, params.id, { action: 'reject', by: principal.actor, ...(body?.reason ? { reason: body.reason } : {}) });
      ctx.body = view(record);
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'cancelChangeRequest', path: '/v1/changes/:id/cancel', tag, scope: 'feature_flag:manage',
    summary: 'Withdraw a pending change request: the requester, or an admin.',
    params: idParams,
    body: z.strictObject({ reason: z.string().max(500).optional() }).optional(),
    responses: { 200: { description: 'The change request, cancelled.', schema: changeSchema } },
    async handler(ctx, { params, body, principal }) {
      const record = await getChangeRequest(deps.db, params.id);
      if (!record) throw new AppError('not_found', `change request "${params.id}" does not exist`);
      if (!sameIdentity(record.requestedBy, principal.actor.id) && !hasScope(principal, 'feature_flag:admin')) {
        throw new AppError('permission_denied', `only ${record.requestedBy}, who requested it, or an admin may cancel change request "${record.id}"`);
      }
      const cancelled = await decideChangeRequest(deps, params.id, { action: 'cancel', by: principal.actor, ...(body?.reason ? { reason: body.reason } : {}) });
      ctx.body = view(cancelled);
    },
  });

  return router;
}
