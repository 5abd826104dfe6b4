import { sequenceCommitted } from '../data/append-sequencer.ts';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Actor } from '../data/actor.ts';
import { FLAG_TYPES } from '@flagship/engine';
import { flagInputSchema } from '@flagship/engine/validate';
import { auditView, createFlag, getFlag, listFlags, patchFlag, setFlagState } from '../data/flags.ts';
import { definitionOf } from '../domain/definition-of.ts';
import { dryRunOf } from '../data/write-transaction.ts';
import { listAudit } from '../data/audit.ts';
import { AppError } from '../errors.ts';
import { gateFlagChange, gateFlagPatch } from './approval-gates.ts';
import { approvalOptionsSchema, ApprovalNeeded, changeRequestView, fileChangeRequest, parseApprovalOptions, type ApprovalOptions } from './change-control.ts';
import type { ApiDependencies } from './dependencies.ts';
import { answerDryRun, dryRunQuery, dryRunResponse, orDryRun, flagWarnings, impactOf, notingApproval, withWarnings } from './dry-run.ts';
import { staleFlagPage } from './lifecycle-routes.ts';
import { pageQuery } from './pagination.ts';
import type { RouteRegistry } from './route.ts';
import { decodeCursor, encodeCursor, etagFor, expectedVersion, requiredVersion } from './versioning.ts';

const keyParams = z.object({ key: z.string().min(1).max(128) });
const flagSchema = z.record(z.string(), z.unknown()).describe('A flag as CONTRACT.md describes it, with state, version and metadata.');
const versionBody = z.strictObject({
  version: z.number().int().min(1).optional().describe('The version being changed; or send If-Match.'),
  approval: approvalOptionsSchema.optional(),
}).optional();
const approvalRequired = { description: 'approval_required: the flag is high-impact; the change became a change request that waits for a second person (the error body names it in details; Location points at it).' };

/**
 * Flags: create, read, list and search, patch, archive, restore, and a flag's audit trail. A change
 * to a high-impact flag is not written: it becomes a change request (202 approval_required).
 */
export function flagRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'flags';

  /** Files the change request and answers 202 approval_required, naming it. */
  async function requestApproval(
    ctx: Context,
    filing: { kind: 'patch' | 'archive' | 'restore'; flagKey: string; change: Record<string, unknown>; baseVersion: number; requester: Actor; approvalOptions: ApprovalOptions | undefined; why: string },
  ): Promise<never> {
    const request = await fileChangeRequest(deps, {
      kind: filing.kind,
      flagKey: filing.flagKey,
      change: filing.change,
      baseVersion: filing.baseVersion,
      requester: filing.requester,
      ...(filing.approvalOptions ? { approval: filing.approvalOptions } : {}),
    });
    ctx.set('Location', `/v1/changes/${request.id}`);
    throw new AppError('approval_required', `${filing.why}: the change waits for a second person with feature_flag:approve (change request ${request.id}, expires ${new Date(request.expiresAt).toISOString()})`, changeRequestView(request, deps));
  }

  registry.add(router, {
    method: 'post', operationId: 'createFlag', path: '/v1/flags', tag, scope: 'feature_flag:manage',
    summary: 'Create a flag (version 1).',
    body: flagInputSchema,
    query: z.object(dryRunQuery),
    responses: { 201: { description: 'The flag, with an ETag of its version (and the linter\'s warnings, when there are any).', schema: flagSchema }, 200: dryRunResponse },
    async handler(ctx, { body, query, principal }) {
      if (query.dryRun === 'true') {
        const flag = await createFlag(dryRunOf(deps.db), body, { actor: principal.actor });
        return answerDryRun(ctx, { before: null, after: auditView(flag), wouldWrite: flag, approvalRequired: null, warnings: flagWarnings(deps, definitionOf(flag)), impact: await impactOf(deps, { kind: 'flag', key: flag.key, flag }) });
      }
      const flag = await createFlag(deps.db, body, { actor: principal.actor });
      deps.flagSet.applyFlag(flag);
      ctx.status = 201;
      ctx.set('ETag', etagFor(flag.version));
      ctx.set('Location', `/v1/flags/${flag.key}`);
      ctx.body = withWarnings(flag, flagWarnings(deps, definitionOf(flag)));
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'listFlags', path: '/v1/flags', tag, scope: 'feature_flag:manage',
    summary: 'List flags in key order, filtered by state, type, tag, key prefix, owner or a search over key, description and tags.',
    query: z.object({
      state: z.enum(['active', 'archived']).optional(),
      type: z.enum(FLAG_TYPES).optional(),
      tag: z.string().max(64).optional(),
      prefix: z.string().max(128).optional(),
      q: z.string().min(1).max(200).optional().describe('Substring of the key, description or a tag (case-insensitive).'),
      owner: z.string().min(1).max(200).optional().describe('Only flags whose owner is this (without regard to case).'),
      stale: z.enum(['true', 'false']).optional().describe('true: only stale active flags, each with "stale": { reason, since, lastEvaluatedAt, value } (docs/lifecycle.md); no other filter then but owner.'),
      ...pageQuery(deps.maxPageSize),
    }),
    responses: { 200: { description: 'A page of flags and the cursor of the next page (null on the last).', schema: z.object({ items: z.array(flagSchema), nextCursor: z.string().nullable() }) } },
    async handler(ctx, { query }) {
      const after = decodeCursor<string>(query.cursor, 'string');
      if (query.stale === 'true') {
        if (query.state || query.type || query.tag || query.prefix || query.q) throw new AppError('validation_error', 'stale=true takes no other filter but owner', { issues: [{ path: 'stale', message: 'alone, or with owner' }] });
        ctx.body = await staleFlagPage(deps, { limit: query.limit, ...(after ? { after } : {}), ...(query.owner ? { owner: query.owner } : {}) });
        return;
      }
      const page = await listFlags(deps.db, {
        limit: query.limit,
        ...(query.state ? { state: query.state } : {}),
        ...(query.type ? { type: query.type } : {}),
        ...(query.tag ? { tag: query.tag } : {}),
        ...(query.prefix ? { prefix: query.prefix } : {}),
        ...(query.q ? { q: query.q } : {}),
        ...(query.owner ? { owner: query.owner } : {}),
        ...(after ? { after } : {}),
      });
      ctx.body = { items: page.items, nextCursor: encodeCursor(page.nextAfter) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getFlag', path: '/v1/flags/:key', tag, scope: 'feature_flag:manage',
    summary: 'Read a flag (archived ones too); answers 304 to a matching If-None-Match.',
    params: keyParams,
    responses: { 200: { description: 'The flag.', schema: flagSchema }, 304: { description: 'Unchanged since the ETag given.' } },
    async handler(ctx, { params }) {
      const flag = await getFlag(deps.db, params.key);
      if (!flag) throw new AppError('not_found', `flag "${params.key}" does not exist`);
      ctx.set('ETag', etagFor(flag.version));
      if (ctx.get('if-none-match') === etagFor(flag.version)) {
        ctx.status = 304;
        return;
      }
      ctx.body = flag;
    },
  });

  registry.add(router, {
    method: 'patch', operationId: 'updateFlag', path: '/v1/flags/:key', tag, scope: 'feature_flag:manage',
    summary: 'Change a flag with a JSON merge patch; the version must be given as If-Match or "version".',
    params: keyParams,
    body: z.record(z.string(), z.unknown()).describe('Fields to replace; null removes an optional field. May carry "version", and "approval": { reason?, expiresIn? } for a high-impact flag.'),
    query: z.object(dryRunQuery),
    responses: { 200: { description: 'The flag at its next version (and the linter\'s warnings, when there are any); with dryRun=true, the dry run\'s answer.', schema: orDryRun(flagSchema) }, 202: approvalRequired },
    async handler(ctx, { params, body, query, principal }) {
      const { version, approval, ...patch } = body;
      const approvalOptions = parseApprovalOptions(approval);
      const baseVersion = requiredVersion(ctx, version);
      if (query.dryRun === 'true') {
        const before = await getFlag(deps.db, params.key);
        const noted = notingApproval(gateFlagPatch);
        const flag = await patchFlag(dryRunOf(deps.db), params.key, patch, baseVersion, { actor: principal.actor, guard: noted.guard });
        return answerDryRun(ctx, {
          before: before && auditView(before), after: auditView(flag), wouldWrite: flag, approvalRequired: noted.approval(),
          warnings: flagWarnings(deps, definitionOf(flag)), impact: await impactOf(deps, { kind: 'flag', key: flag.key, flag }),
        });
      }
      let flag;
      try {
        // The guard runs under the write lock: a flag that is (or is being made) high-impact, or that one
        // depends on, is never written directly.
        flag = await patchFlag(deps.db, params.key, patch, baseVersion, {
          actor: principal.actor, guard: gateFlagPatch, heldAtExpectedVersion: deps.flagSet.flags.get(params.key)?.version === baseVersion,
        });
      } catch (error) {
        if (!(error instanceof ApprovalNeeded)) throw error;
        return requestApproval(ctx, { kind: 'patch', flagKey: params.key, change: { patch }, baseVersion, requester: principal.actor, approvalOptions, why: error.message });
      }
      deps.flagSet.applyFlag(flag);
      ctx.set('ETag', etagFor(flag.version));
      ctx.body = withWarnings(flag, flagWarnings(deps, definitionOf(flag)));
    },
  });

  for (const [action, state] of [['archive', 'archived'], ['restore', 'active']] as const) {
    registry.add(router, {
      method: 'post', operationId: `${action}Flag`, path: `/v1/flags/:key/${action}`, tag, scope: 'feature_flag:manage',
      summary: action === 'archive' ? 'Archive a flag: it stops evaluating (404) and leaves snapshots; its key stays taken.' : 'Restore an archived flag.',
      params: keyParams,
      body: versionBody,
      query: z.object(dryRunQuery),
      responses: { 200: { description: 'The flag at its next version; with dryRun=true, the dry run\'s answer (for an archive, the traffic that would get not_found).', schema: orDryRun(flagSchema) }, 202: approvalRequired },
      async handler(ctx, { params, body, query, principal }) {
        const version = expectedVersion(ctx, body?.version);
        if (query.dryRun === 'true') {
          const before = await getFlag(deps.db, params.key);
          const noted = notingApproval(gateFlagChange);
          const flag = await setFlagState(dryRunOf(deps.db), params.key, state, version, { actor: principal.actor, guard: noted.guard });
          return answerDryRun(ctx, {
            before: before && auditView(before), after: auditView(flag), wouldWrite: flag, approvalRequired: noted.approval(),
            warnings: state === 'active' ? flagWarnings(deps, definitionOf(flag)) : [], impact: await impactOf(deps, { kind: 'flag', key: flag.key, flag: state === 'active' ? flag : null }),
          });
        }
        let flag;
        try {
          flag = await setFlagState(deps.db, params.key, state, version, { actor: principal.actor, guard: gateFlagChange });
        } catch (error) {
          if (!(error instanceof ApprovalNeeded)) throw error;
          // Without a version given, the request binds to the version the guard saw.
          return requestApproval(ctx, { kind: action, flagKey: params.key, change: {}, baseVersion: version ?? error.baseVersion, requester: principal.actor, approvalOptions: body?.approval, why: error.message });
        }
        deps.flagSet.applyFlag(flag);
        ctx.set('ETag', etagFor(flag.version));
        ctx.body = flag;
      },
    });
  }

  registry.add(router, {
    method: 'get', operationId: 'getFlagAuditLog', path: '/v1/flags/:key/audit', tag, scope: 'feature_flag:manage',
    summary: 'The audit trail of one flag, newest first.',
    params: keyParams,
    query: z.object(pageQuery(deps.maxPageSize)),
    responses: { 200: { description: 'A page of audit entries.' } },
    async handler(ctx, { params, query }) {
      if (!(await getFlag(deps.db, params.key))) throw new AppError('not_found', `flag "${params.key}" does not exist`);
      const before = decodeCursor<number>(query.cursor, 'number');
      await sequenceCommitted(deps.db);
      const page = await listAudit(deps.db, { entityType: 'flag', entityKey: params.key, limit: query.limit, ...(before ? { before } : {}) });
      ctx.body = { items: page.items, nextCursor: encodeCursor(page.nextBefore) };
    },
  });

  return router;
}
