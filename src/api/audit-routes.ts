import Router from '@koa/router';
import { z } from 'zod';
import { sequenceCommitted } from '../data/append-sequencer.ts';
import { AUDIT_PROBLEMS, auditRewritableByThisRole, listAudit, verifyAudit } from '../data/audit.ts';
import type { ApiDependencies } from './dependencies.ts';
import { pageQuery } from './pagination.ts';
import type { RouteRegistry } from './route.ts';
import { decodeCursor, encodeCursor } from './versioning.ts';
import { AUDIT_ENTITY_TYPES } from '../data/write-transaction.ts';

/** The audit log: read it, and verify its hash chain. */
export function auditRoutes(deps: ApiDependencies, registry: RouteRegistry): Router {
  const router = new Router();
  const tag = 'audit';

  registry.add(router, {
    method: 'get', operationId: 'listAuditEntries', path: '/v1/audit', tag, scope: 'feature_flag:manage',
    summary: 'Audit entries, newest first, filtered by entity, actor (or approver) and action.',
    query: z.object({
      entityType: z.enum(AUDIT_ENTITY_TYPES).optional(),
      entityKey: z.string().max(128).optional(),
      actor: z.string().max(128).optional(),
      action: z.string().max(64).optional(),
      ...pageQuery(deps.maxPageSize),
    }),
    responses: { 200: { description: 'A page of audit entries (actor, action, version, before, after, diff, at, hash).' } },
    async handler(ctx, { query }) {
      const before = decodeCursor<number>(query.cursor, 'number');
      await sequenceCommitted(deps.db);
      const page = await listAudit(deps.db, {
        limit: query.limit,
        ...(query.entityType ? { entityType: query.entityType } : {}),
        ...(query.entityKey ? { entityKey: query.entityKey } : {}),
        ...(query.actor ? { actor: query.actor } : {}),
        ...(query.action ? { action: query.action } : {}),
        ...(before ? { before } : {}),
      });
      ctx.body = { items: page.items, nextCursor: encodeCursor(page.nextBefore) };
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'verifyAuditLog', path: '/v1/audit/verify', tag, scope: 'feature_flag:manage',
    summary: 'Verify the log: every entry chained, unchanged and signed by the audit key, and the newest checkpoint (kept outside the database) still covered. Names each entry that does not fit (docs/audit.md).',
    responses: {
      200: {
        description: '{ ok, entries, signed, unsignedThrough, head, checkpoint, firstBadId, problem, problems: [{ id, problem, message }], warnings }.',
        schema: z.object({
          ok: z.boolean(),
          entries: z.number(),
          signed: z.number(),
          unsignedThrough: z.number(),
          head: z.object({ id: z.number(), hash: z.string() }).nullable(),
          checkpoint: z.object({ id: z.number(), hash: z.string(), at: z.string(), verified: z.boolean() }).nullable(),
          firstBadId: z.number().nullable(),
          problem: z.enum(AUDIT_PROBLEMS).nullable(),
          problems: z.array(z.object({ id: z.number(), problem: z.enum(AUDIT_PROBLEMS), message: z.string() })),
          warnings: z.array(z.string()),
        }),
      },
    },
    async handler(ctx) {
      await sequenceCommitted(deps.db);
      const verification = await verifyAudit(deps.db, { verifier: deps.audit.verifier, checkpoints: deps.audit.checkpoints });
      if (await auditRewritableByThisRole(deps.db)) {
        verification.warnings.push('the API connects to PostgreSQL as a role that may rewrite the audit log (a superuser, its owner, or one granted UPDATE or DELETE): connect as a member of flags_application (docs/audit.md)');
      }
      ctx.body = verification;
    },
  });

  registry.add(router, {
    method: 'get', operationId: 'getAuditPublicKey', path: '/v1/audit/public-key', tag, scope: 'feature_flag:manage',
    summary: 'The Ed25519 public key (SPKI PEM) that verifies audit entries\' signatures and audit.checkpoint events, for checking them outside the service.',
    responses: { 200: { description: 'The key.', schema: z.object({ algorithm: z.literal('Ed25519'), keyId: z.string(), publicKeyPem: z.string() }) } },
    async handler(ctx) {
      ctx.body = { algorithm: 'Ed25519', keyId: deps.audit.verifier.keyId, publicKeyPem: deps.audit.verifier.publicKeyPem };
    },
  });

  return router;
}
