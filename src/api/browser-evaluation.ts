import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { LRUCache } from 'lru-cache';
import { evaluate, evaluateAll, type CompiledFlagSet, type EvaluationContext, type EvaluationResult } from '@flagship/engine';
import { AppError } from '../errors.ts';
import { hasScope } from './auth.ts';
import type { ApiDependencies } from './dependencies.ts';
import { FLAG_SET_ID } from './ofrep-event-streams.ts';
import type { Principal } from './principal.ts';

/** Only flags with this tag are answered to a front-end's token: a flag is internal until it says otherwise. */
const BROWSER_FLAG_TAG = 'flagship:browser';

/**
 * A token that may evaluate only from a browser: it holds `feature_flag:browser` and not
 * `feature_flag:evaluate` (an admin token holds both, and is answered in full).
 */
export function isBrowserOnly(principal: Principal): boolean {
  return !hasScope(principal, 'feature_flag:evaluate');
}

/** What a browser is told of one flag: its value and variant, nothing of why. */
export function toBrowserOfrep(result: EvaluationResult) {
  return { key: result.flagKey, value: result.value, ...(result.variant === null ? {} : { variant: result.variant }) };
}

/** The context attribute that carries the signature of its targetingKey. */
const SIGNATURE_ATTRIBUTE = 'targetingKeySignature';

/**
 * For a token created with `signedContext`: the context's targetingKey must come with its HMAC
 * (SHA-256, hex, keyed with the token's context-signing secret) made by the customer's backend for
 * the signed-in user, so a visitor who edits the page cannot evaluate as someone else. The
 * targetingKey is then the identity: a userId that names anyone else is refused. The other
 * attributes are still the browser's say, as in LaunchDarkly's secure mode.
 */
export function checkSignedContext(principal: Principal, context: EvaluationContext): void {
  const signing = principal.contextSigning;
  if (!signing) return;
  if (signing.secret === undefined) {
    // Started from the published token list, which never carries the secret: refusing is safer than trusting.
    throw new AppError('unavailable', 'this API process cannot check signed contexts until PostgreSQL answers; retry shortly');
  }
  const targetingKey = context.targetingKey;
  const signature = context[SIGNATURE_ATTRIBUTE];
  if (typeof targetingKey !== 'string' || targetingKey === '' || typeof signature !== 'string') {
    throw new AppError('permission_denied', `the token "${principal.name}" evaluates only signed contexts: context.targetingKey and context.${SIGNATURE_ATTRIBUTE} (its HMAC from your backend) are required`);
  }
  if (context.userId !== undefined && context.userId !== targetingKey) {
    throw new AppError('permission_denied', 'in a signed context the identity is the signed targetingKey: context.userId must be absent or equal to it');
  }
  const expected = createHmac('sha256', signing.secret).update(targetingKey).digest();
  const given = /^[0-9a-f]{64}$/i.test(signature) ? Buffer.from(signature, 'hex') : undefined;
  if (!given || !timingSafeEqual(given, expected)) {
    throw new AppError('permission_denied', `context.${SIGNATURE_ATTRIBUTE} is not the signature of this targetingKey`);
  }
}

/** Which origins may read OFREP answers in a browser: `*`, or an allow-list of exact origins. */
export type CorsOrigins = '*' | readonly string[];

/**
 * CORS for the OFREP routes, from the deployment's allow-list (FLAGS_OFREP_CORS_ORIGINS): an origin
 * not on it gets no CORS headers at all, so the browser keeps the answer from the page. It is the
 * browser's protection against another site's page reading answers with a visitor's token, not an
 * authentication: a script outside a browser ignores it, and the token decides what it may read.
 */
export function ofrepCors(origins: CorsOrigins) {
  const allowed = origins === '*' ? undefined : new Set(origins);
  return async function applyOfrepCors(ctx: Context, next: Next): Promise<void> {
    if (!ctx.path.startsWith('/ofrep/')) return next();
    const origin = ctx.get('origin');
    if (allowed === undefined) ctx.set('Access-Control-Allow-Origin', '*');
    else {
      ctx.vary('Origin');
      if (origin !== '' && allowed.has(origin)) ctx.set('Access-Control-Allow-Origin', origin);
    }
    if (ctx.response.get('access-control-allow-origin')) ctx.set('Access-Control-Expose-Headers', 'ETag');
    if (ctx.method === 'OPTIONS') {
      if (ctx.response.get('access-control-allow-origin')) {
        ctx.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
        ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-None-Match');
        ctx.set('Access-Control-Max-Age', '600');
      }
      ctx.status = 204;
      return;
    }
    await next();
  };
}

/** One flag for a browser token: only a flag tagged for browsers exists for it. */
export function evaluateForBrowser(set: CompiledFlagSet, key: string, context: EvaluationContext): EvaluationResult | undefined {
  const compiled = set.flags.get(key);
  if (!compiled || !compiled.flag.tags.includes(BROWSER_FLAG_TAG)) return undefined;
  return evaluate(set, key, context);
}

export interface BrowserBulkAnswer {
  json: string;
  etag: string;
  results: readonly EvaluationResult[];
}

/**
 * OFREP bulk for browser tokens: the flags tagged for browsers (listed once per change of the set),
 * values and variants only, cached by context like the full answers, in a cache of its own so a
 * browser's answer is never served to a server token or the other way round.
 */
export function createBrowserBulk(deps: Pick<ApiDependencies, 'flagSet'>) {
  const answers = new LRUCache<string, BrowserBulkAnswer>({
    maxSize: 16 * 1024 * 1024,
    sizeCalculation: (answer, key) => (answer.json.length + key.length) * 2 + answer.results.length * 8 + 160,
  });
  let forChange = -1;
  let browserKeys: readonly string[] = [];
  return {
    answer(context: EvaluationContext): BrowserBulkAnswer {
      if (forChange !== deps.flagSet.changeCount) {
        answers.clear();
        forChange = deps.flagSet.changeCount;
        browserKeys = [...deps.flagSet.current.flags.values()].filter((compiled) => compiled.flag.tags.includes(BROWSER_FLAG_TAG)).map((compiled) => compiled.key);
      }
      const key = JSON.stringify(context);
      let answer = answers.get(key);
      if (!answer) {
        const results = evaluateAll(deps.flagSet.current, context, browserKeys);
        const json = JSON.stringify({ flags: results.map(toBrowserOfrep), metadata: { flagSetId: FLAG_SET_ID } });
        answer = { json, etag: `"${createHash('sha256').update(json).digest('base64url').slice(0, 22)}"`, results };
        answers.set(key, answer);
      }
      return answer;
    },
  };
}
