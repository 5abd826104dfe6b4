import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { evaluate, OPENFEATURE_REASONS, type EvaluationResult } from '@flagship/engine';
import { AppError, isAppError } from '../errors.ts';
import type { ApiDependencies } from './dependencies.ts';
import { isMalformedBody } from './error-middleware.ts';
import { answerJson, checkProject, createBulkEvaluator } from './evaluation-routes.ts';
import { contextSchema, isBoundedContext } from './context-limits.ts';
import { checkSignedContext, createBrowserBulk, evaluateForBrowser, isBrowserOnly, toBrowserOfrep } from './browser-evaluation.ts';
import { FLAG_SET_ID, OFREP_EVENT_STREAM_PATH, type OfrepEventStreams } from './ofrep-event-streams.ts';
import type { RouteRegistry } from './route.ts';

const OFREP_PREFIX = '/ofrep/';
/** Front-end tokens (feature_flag:browser) may call OFREP and nothing else; they are answered values and variants only. */
const OFREP_SCOPES = ['feature_flag:evaluate', 'feature_flag:browser'] as const;

type OfrepMetadata = Record<string, string | number | boolean>;

/** One OFREP success body: our reason, rule and version ride along as flat metadata (the client drops nested values). */
export function toOfrep(result: EvaluationResult): { key: string; value: unknown; reason: string; variant?: string; metadata: OfrepMetadata } {
  // Built field by field rather than with spreads: this runs once per flag of every OFREP answer.
  // flagSetId and version are what OpenFeature's telemetry reads (feature_flag.set.id, and
  // feature_flag.version, a string by the conventions).
  const metadata: OfrepMetadata = { flagSetId: FLAG_SET_ID, version: String(result.flagVersion), reason: result.reason, flagVersion: result.flagVersion };
  if (result.ruleId !== undefined) metadata.ruleId = result.ruleId;
  if (result.prerequisiteKey !== undefined) metadata.prerequisiteKey = result.prerequisiteKey;
  if (result.inRollout !== undefined) metadata.inRollout = result.inRollout;
  if (result.variant === null) return { key: result.flagKey, value: result.value, reason: OPENFEATURE_REASONS[result.reason], metadata };
  return { key: result.flagKey, value: result.value, reason: OPENFEATURE_REASONS[result.reason], variant: result.variant, metadata };
}

/**
 * OFREP speaks its own error shape (`{ key, errorCode, errorDetails }` on 400/404/500), which the
 * OpenFeature client requires; this translates our errors under /ofrep/ into it, body-parser errors
 * included, so the one error middleware still writes everything else. Authentication errors keep
 * their 401/403, which the client maps by status.
 */
export async function ofrepErrors(ctx: Context, next: Next): Promise<void> {
  // The event stream is no evaluation: its errors keep the service's own shape.
  if (!ctx.path.startsWith(OFREP_PREFIX) || ctx.path === OFREP_EVENT_STREAM_PATH) return next();
  try {
    await next();
  } catch (error) {
    const key = /^\/ofrep\/v1\/evaluate\/flags\/([^/]+)$/.exec(ctx.path)?.[1] ?? '';
    if (isAppError(error) && (error.code === 'unauthenticated' || error.code === 'permission_denied')) throw error;
    const malformed = isMalformedBody(error);
    if (malformed || (isAppError(error) && error.code === 'validation_error')) {
      ctx.status = 400;
      ctx.body = { key: decodeURIComponent(key), errorCode: malformed ? 'PARSE_ERROR' : 'INVALID_CONTEXT', errorDetails: (error as Error).message };
    } else if (isAppError(error) && error.code === 'not_found') {
      ctx.status = 404;
      ctx.body = { key: decodeURIComponent(key), errorCode: 'FLAG_NOT_FOUND', errorDetails: error.message };
    } else {
      throw error;
    }
  }
}

export const ofrepRequest = z.object({ context: contextSchema('The OpenFeature evaluation context; targetingKey is the identity when userId is absent.') }).default({ context: {} });

/**
 * `ofrepRequest`'s check by hand, for OFREP single: the body itself when it holds a bounded context
 * and nothing else (what zod would give back), `undefined` for anything else, which zod judges.
 */
export function fastOfrepRequest(body: unknown): z.output<typeof ofrepRequest> | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  for (const key in body) if (key !== 'context') return undefined;
  return isBoundedContext((body as { context?: unknown }).context) ? (body as z.output<typeof ofrepRequest>) : undefined;
}
const ofrepSuccess = z.object({
  key: z.string(),
  value: z.unknown(),
  reason: z.enum([...new Set(Object.values(OPENFEATURE_REASONS))]),
  variant: z.string().optional(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});
/** A client told to re-fetch by the event stream names what it was told; the answer is the same without them (they defeat shared caches). */
const ofrepBulkQuery = z.object({
  flagConfigEtag: z.string().max(64).optional().describe('The `etag` of the refetchEvaluation event that prompted this request.'),
  flagConfigLastModified: z.string().max(64).optional().describe('The `lastModified` of that event, if it had one.'),
});
const ofrepError = z.object({ key: z.string(), errorCode: z.enum(['PARSE_ERROR', 'INVALID_CONTEXT', 'FLAG_NOT_FOUND', 'GENERAL']), errorDetails: z.string() });

/** The OpenFeature Remote Evaluation Protocol, so OpenFeature's OFREP providers work unchanged. */
export function ofrepRoutes(deps: ApiDependencies, registry: RouteRegistry, streams: OfrepEventStreams): Router {
  const router = new Router();
  const tag = 'ofrep';
  const bulk = createBulkEvaluator(deps);
  const browserBulk = createBrowserBulk(deps);
  // A polling OFREP client sends the same context again and again: its serialised answer and ETag
  // are kept, so a repeat costs a lookup, and a 304 not even the serialising. The results ride along
  // (8 bytes each: they are the engine's shared objects) to be counted when served again. 64 MB at
  // most, keys (the serialised context) included, counting two bytes a character; emptied when the set changes.
  const answers = new LRUCache<string, { json: string; etag: string; results: readonly EvaluationResult[] }>({
    maxSize: 64 * 1024 * 1024,
    sizeCalculation: (answer, key) => (answer.json.length + key.length) * 2 + answer.results.length * 8 + 160,
  });
  let answersForChange = deps.flagSet.changeCount;

  registry.add(router, {
    method: 'post', operationId: 'ofrepEvaluateFlag', path: '/ofrep/v1/evaluate/flags/:key', tag, scope: OFREP_SCOPES,
    summary: 'OFREP single-flag evaluation.',
    params: z.object({ key: z.string().min(1).max(128) }),
    body: ofrepRequest,
    fastBody: fastOfrepRequest,
    responses: {
      200: { description: 'OFREP evaluation success.', schema: ofrepSuccess },
      400: { description: 'OFREP error: INVALID_CONTEXT or PARSE_ERROR.', schema: ofrepError },
      404: { description: 'OFREP error: FLAG_NOT_FOUND.', schema: ofrepError },
    },
    async handler(ctx, { params, body, principal }) {
      const started = performance.now();
      checkProject(principal, body.context);
      checkSignedContext(principal, body.context);
      const set = deps.flagSet.current;
      const browser = isBrowserOnly(principal);
      const result = browser ? evaluateForBrowser(set, params.key, body.context) : evaluate(set, params.key, body.context);
      if (!result) throw new AppError('not_found', `flag "${params.key}" does not exist or is archived`);
      deps.metrics.evaluations.count(set, result, 'ofrep');
      deps.insights?.count(set, result);
      deps.sampler?.offer(result.flagKey, body.context, principal.name);
      if (browser) ctx.body = toBrowserOfrep(result);
      else answerJson(ctx, toOfrep(result));
      deps.metrics.evaluations.observeSeconds('ofrep', (performance.now() - started) / 1000);
    },
  });

  registry.add(router, {
    method: 'post', operationId: 'ofrepEvaluateFlags', path: '/ofrep/v1/evaluate/flags', tag, scope: OFREP_SCOPES,
    summary: 'OFREP bulk evaluation of every active flag; the ETag changes whenever any result for this context does.',
    body: ofrepRequest,
    query: ofrepBulkQuery,
    responses: {
      200: {
        description: 'Every active flag evaluated, the flag set\'s metadata, and the event stream that tells of changes (OFREP ADR-0008).',
        schema: z.object({
          flags: z.array(ofrepSuccess),
          metadata: z.object({ flagSetId: z.string() }),
          eventStreams: z.array(z.object({ type: z.literal('sse'), endpoint: z.object({ requestUri: z.string() }) })),
        }),
      },
      304: { description: 'Results unchanged for this context.' },
      400: { description: 'OFREP error: INVALID_CONTEXT or PARSE_ERROR.', schema: ofrepError },
    },
    async handler(ctx, { body, principal }) {
      const started = performance.now();
      checkProject(principal, body.context);
      checkSignedContext(principal, body.context);
      if (answersForChange !== deps.flagSet.changeCount) {
        answers.clear();
        answersForChange = deps.flagSet.changeCount;
      }
      const key = JSON.stringify(body.context);
      let answer = isBrowserOnly(principal) ? browserBulk.answer(body.context) : answers.get(key);
      deps.metrics.countCacheLookup('ofrep_bulk', answer !== undefined);
      if (!answer) {
        const results = bulk.evaluateAll(body.context, undefined);
        const json = JSON.stringify({ flags: results.map(toOfrep), metadata: { flagSetId: FLAG_SET_ID } });
        // Hashing the results, not the flag set's version, keeps the ETag still when a change does
        // not touch this context's answers and moves it whenever one does.
        answer = { json, etag: `"${createHash('sha256').update(json).digest('base64url').slice(0, 22)}"`, results };
        answers.set(key, answer);
      }
      const { etag } = answer;
      deps.metrics.evaluations.countAll(deps.flagSet.current, answer.results, 'ofrep_bulk');
      deps.insights?.countAll(deps.flagSet.current, answer.results);
      deps.sampler?.offerAll(answer.results, body.context, principal.name);
      deps.metrics.evaluations.observeSeconds('ofrep_bulk', (performance.now() - started) / 1000);
      ctx.set('ETag', etag);
      if (ctx.get('if-none-match') === etag) {
        ctx.status = 304;
        return;
      }
      ctx.type = 'application/json';
      ctx.body = streams.bulkBody(answer, principal);
    },
  });

  return router;
}
