import { describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import { CONTEXT_LIMITS } from '../../src/api/context-limits.ts';
import { evaluateBody, fastEvaluateBody } from '../../src/api/evaluation-routes.ts';
import { fastOfrepRequest, ofrepRequest } from '../../src/api/ofrep-routes.ts';

const nested = (levels: number): Record<string, unknown> => (levels === 0 ? { leaf: 1 } : { deeper: nested(levels - 1) });
const wide = (attributes: number) => Object.fromEntries(Array.from({ length: attributes }, (_, index) => [`a${index}`, index]));

/** Contexts on both sides of every limit and of the shape the schema takes. */
const contexts: unknown[] = [
  {},
  { userId: 'u-1', projectId: 'p-1', country: 'NO', plan: { tier: 'gold', seats: 12 }, roles: ['admin', 'dev'] },
  { targetingKey: 'k', version: '1.2.3', staff: true, score: 3.5, nothing: null },
  nested(CONTEXT_LIMITS.maxDepth - 2),
  nested(CONTEXT_LIMITS.maxDepth - 1),
  nested(CONTEXT_LIMITS.maxDepth + 5),
  wide(CONTEXT_LIMITS.maxAttributes),
  wide(CONTEXT_LIMITS.maxAttributes + 1),
  { blob: 'x'.repeat(CONTEXT_LIMITS.maxTextLength - 4) },
  { blob: 'x'.repeat(CONTEXT_LIMITS.maxTextLength) },
  JSON.parse('{"__proto__": {"polluted": true}, "userId": "u"}'),
  [],
  ['userId'],
  null,
  'userId=u',
  42,
  undefined,
];

const keys: unknown[] = ['checkout', 'k', 'x'.repeat(128), 'x'.repeat(129), '', 7, null, undefined, ['checkout']];

function evaluateBodies(): unknown[] {
  const bodies: unknown[] = [null, [], 'text', 1, {}, JSON.parse('{"__proto__": {"flagKey": "k"}}')];
  for (const flagKey of keys) {
    for (const context of contexts) {
      bodies.push({ flagKey, context });
      bodies.push({ context, flagKey });
      bodies.push({ flagKey, context, extra: true });
    }
    bodies.push({ flagKey });
  }
  return bodies;
}

function ofrepBodies(): unknown[] {
  const bodies: unknown[] = [null, [], 'text', 1, {}, undefined];
  for (const context of contexts) {
    bodies.push({ context });
    bodies.push({ context, flagKey: 'ignored' });
  }
  return bodies;
}

/** The hand check may decline anything, but what it accepts zod must accept, with the same output. */
function expectNarrowerThanSchema(schema: z.ZodType, fast: (body: unknown) => unknown, bodies: unknown[]): number {
  let accepted = 0;
  for (const body of bodies) {
    const quick = fast(body);
    if (quick === undefined) continue;
    accepted += 1;
    const judged = schema.safeParse(body);
    expect({ body, success: judged.success }).toEqual({ body, success: true });
    expect(quick).toEqual(judged.data);
  }
  return accepted;
}

describe('the hot routes\' hand-written body checks', () => {
  it('accept only what the zod schema accepts, and give the same output', () => {
    expect(expectNarrowerThanSchema(evaluateBody, fastEvaluateBody, evaluateBodies())).toBeGreaterThan(0);
    expect(expectNarrowerThanSchema(ofrepRequest, fastOfrepRequest, ofrepBodies())).toBeGreaterThan(0);
  });

  it('take the ordinary bodies themselves, so the hot path does not fall back to zod', () => {
    const body = { flagKey: 'checkout', context: { userId: 'u-1', projectId: 'p-1', plan: { tier: 'gold' } } };
    expect(fastEvaluateBody(body)).toBe(body);
    const ofrep = { context: { targetingKey: 'u-1', country: 'NO' } };
    expect(fastOfrepRequest(ofrep)).toBe(ofrep);
  });

  it('leave every body over a context limit to zod, which refuses it', () => {
    for (const context of [nested(CONTEXT_LIMITS.maxDepth + 5), wide(CONTEXT_LIMITS.maxAttributes + 1), { blob: 'x'.repeat(CONTEXT_LIMITS.maxTextLength) }]) {
      expect(fastEvaluateBody({ flagKey: 'k', context })).toBeUndefined();
      expect(evaluateBody.safeParse({ flagKey: 'k', context }).success).toBe(false);
      expect(fastOfrepRequest({ context })).toBeUndefined();
      expect(ofrepRequest.safeParse({ context }).success).toBe(false);
    }
  });
});
