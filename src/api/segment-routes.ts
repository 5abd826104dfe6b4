import Router from '@koa/router';
import { z } from 'zod';
import { segmentInputSchema } from '@flagship/engine/validate';
import { createSegment, deleteSegment, getSegment, listSegments, patchSegment, segmentDefinition } from '../data/segments.ts';
import { AppError } from '../errors.ts';
import { gateSegmentPatch } from './approval-gates.ts';
import { ApprovalNeeded, changeRequestView, fileChangeRequest, parseApprovalOptions } from './change-control.ts';
import type { ApiDependencies } from './dependencies.ts';
import { dryRunOf } from '../data/write-transaction.ts';
import { answerDryRun, dryRunQuery, dryRunResponse, impactOf, orDryRun, notingApproval, segmentWarnings, withWarnings } from './dry-run.ts';
import { pageQuery } from './pagination.ts';
import type { RouteRegistry } from './route.ts';
import { decodeCursor, encodeCursor, etagFor, expectedVersion, requiredVersion } from './versioning.ts';

const keyParams = z.object({ key: z.string().min(1).max(128) });
const segmentSchema = z.record(z.string(), z.unknown()).describe('A segment with its version and metadata.');

/** Segments: reusable, named condition sets that rules refer to by key. */
export function segmentRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'segments';

  registry.add(router, {
    method: 'post', operationId: 'createSegment', path: '/v1/segments', tag, scope: 'feature_flag:manage',
    summary: 'Create a segment (version 1).',
    body: segmentInputSchema,
    query: z.object(dryRunQuery),
    responses: { 201: { description: 'The segment (and the linter\'s warnings, when there are any).', schema: segmentSchema }, 200: dryRunResponse },
    async handler(ctx, { body, query, principal }) {
      if (query.dryRun === 'true') {
        const segment = await createSegment(dryRunOf(deps.db), body, principal.actor);
        return answerDryRun(ctx, { before: null, after: segmentDefinition(segment), wouldWrite: segment, approvalRequired: null, warnings: segmentWarnings(deps, segmentDefinition(segment)), impact: await impactOf(deps, { kind: 'segment', key: segment.key, segment: segmentDefinition(segment) }) });
      }
      const segment = await createSegment(deps.db, body, principal.actor);
      deps.flagSet.applySegment(segment.key, segmentDefinition(segment));
      ctx.status = 201;
      ctx.set('ETag', etagFor(segment.version));
      ctx.body = withWarnings(segment, segmentWarnings(deps, segmentDefinition(segment)));
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'listSegments', path: '/v1/segments', tag, scope: 'feature_flag:manage',
    summary: 'List segments in key order.',
    query: z.object(pageQuery(deps.maxPageSize)),
    responses: { 200: { description: 'A page of segments.', schema: z.object({ items: z.array(segmentSchema), nextCursor: z.string().nullable() }) } },
    async handler(ctx, { query }) {
      const after = decodeCursor<string>(query.cursor, 'string');
      const page = await listSegments(deps.db, { limit: query.limit, ...(after ? { after } : {}) });
      ctx.body = { items: page.items, nextCursor: encodeCursor(page.nextAfter) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getSegment', path: '/v1/segments/:key', tag, scope: 'feature_flag:manage',
    summary: 'Read a segment.',
    params: keyParams,
    responses: { 200: { description: 'The segment.', schema: segmentSchema } },
    async handler(ctx, { params }) {
      const segment = await getSegment(deps.db, params.key);
      if (!segment) throw new AppError('not_found', `segment "${params.key}" does not exist`);
      ctx.set('ETag', etagFor(segment.version));
      ctx.body = segment;
    },
  });

  registry.add(router, {
    method: 'patch', operationId: 'updateSegment', path: '/v1/segments/:key', tag, scope: 'feature_flag:manage',
    summary: 'Change a segment with a JSON merge patch; every flag using it is re-checked. The version must be given. A segment that a high-impact flag uses (directly or through a prerequisite) is changed only through a change request.',
    params: keyParams,
    body: z.record(z.string(), z.unknown()).describe('Fields to replace; null removes an optional field. May carry "version", and "approval": { reason?, expiresIn? } for a segment that reaches a high-impact flag.'),
    query: z.object(dryRunQuery),
    responses: {
      200: { description: 'The segment at its next version (and the linter\'s warnings, when there are any); with dryRun=true, the dry run\'s answer, whose impact lists every flag the segment reaches.', schema: orDryRun(segmentSchema) },
      202: { description: 'approval_required: the segment reaches a high-impact flag; the change became a change request that lists every high-impact flag it touches and waits for a second person.' },
    },
    async handler(ctx, { params, body, query, principal }) {
      const { version, approval, ...patch } = body;
      const approvalOptions = parseApprovalOptions(approval);
      const baseVersion = requiredVersion(ctx, version);
      if (query.dryRun === 'true') {
        const before = await getSegment(deps.db, params.key);
        const noted = notingApproval(gateSegmentPatch);
        const segment = await patchSegment(dryRunOf(deps.db), params.key, patch, baseVersion, { actor: principal.actor, guard: noted.guard });
        return answerDryRun(ctx, {
          before: before && segmentDefinition(before), after: segmentDefinition(segment), wouldWrite: segment, approvalRequired: noted.approval(),
          warnings: segmentWarnings(deps, segmentDefinition(segment)), impact: await impactOf(deps, { kind: 'segment', key: segment.key, segment: segmentDefinition(segment) }),
        });
      }
      let segment;
      try {
        segment = await patchSegment(deps.db, params.key, patch, baseVersion, { actor: principal.actor, guard: gateSegmentPatch });
      } catch (error) {
        if (!(error instanceof ApprovalNeeded)) throw error;
        const request = await fileChangeRequest(deps, {
          kind: 'segment-patch',
          flagKey: '',
          segmentKey: params.key,
          change: { segmentKey: params.key, patch },
          baseVersion,
          requester: principal.actor,
          ...(approvalOptions ? { approval: approvalOptions } : {}),
        });
        ctx.set('Location', `/v1/changes/${request.id}`);
        throw new AppError('approval_required', `${error.message}: the change waits for a second person with feature_flag:approve (change request ${request.id}, expires ${new Date(request.expiresAt).toISOString()})`, changeRequestView(request, deps));
      }
      deps.flagSet.applySegment(segment.key, segmentDefinition(segment));
      ctx.set('ETag', etagFor(segment.version));
      ctx.body = withWarnings(segment, segmentWarnings(deps, segmentDefinition(segment)));
    },
  });

  registry.add(router, {
    method: 'delete', operationId: 'deleteSegment', path: '/v1/segments/:key', tag, scope: 'feature_flag:manage',
    summary: 'Delete a segment that no flag refers to.',
    params: keyParams,
    query: z.object(dryRunQuery),
    responses: { 204: { description: 'Deleted.' }, 200: dryRunResponse },
    async handler(ctx, { params, query, principal }) {
      if (query.dryRun === 'true') {
        const before = await getSegment(deps.db, params.key);
        await deleteSegment(dryRunOf(deps.db), params.key, expectedVersion(ctx, undefined), principal.actor);
        // Deleting a segment no flag uses moves nobody: the impact says so without a worker.
        return answerDryRun(ctx, { before: before && segmentDefinition(before), after: null, wouldWrite: null, approvalRequired: null, warnings: [], impact: await impactOf(deps, { kind: 'segment', key: params.key, segment: null }) });
      }
      await deleteSegment(deps.db, params.key, expectedVersion(ctx, undefined), principal.actor);
      deps.flagSet.applySegment(params.key, null);
      ctx.status = 204;
    },
  });

  return router;
}
