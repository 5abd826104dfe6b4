import { z } from 'zod';

/**
 * What an evaluation context may hold. Every evaluating route takes the context from the caller and
 * may keep it as a cache key, so it is bounded before anything else looks at it: a context is a few
 * attributes of a user or project, and these limits sit far above any real one while keeping a
 * hostile one (a megabyte of text, ten thousand levels of nesting) from costing memory or time.
 * docs/api.md lists them.
 */
export const CONTEXT_LIMITS = {
  /** Levels of objects and arrays, the context itself being level 1 (`project.tier` is level 2). */
  maxDepth: 10,
  /** Keys and array elements at every level, counted together. */
  maxAttributes: 500,
  /** Characters of every key and string value, counted together. */
  maxTextLength: 32_768,
} as const;

interface Budget {
  attributes: number;
  text: number;
}

/** Walks at most `maxDepth` levels and stops at the first limit crossed, so a hostile context costs little to refuse. */
function measure(value: unknown, depth: number, budget: Budget): string | null {
  if (typeof value === 'string') {
    budget.text -= value.length;
    return budget.text < 0 ? `its keys and string values hold more than ${CONTEXT_LIMITS.maxTextLength} characters` : null;
  }
  if (typeof value !== 'object' || value === null) return null;
  if (depth > CONTEXT_LIMITS.maxDepth) return `it nests deeper than ${CONTEXT_LIMITS.maxDepth} levels`;
  if (Array.isArray(value)) {
    budget.attributes -= value.length;
    if (budget.attributes < 0) return `it has more than ${CONTEXT_LIMITS.maxAttributes} attributes (keys and array elements)`;
    for (const element of value) {
      const problem = measure(element, depth + 1, budget);
      if (problem) return problem;
    }
    return null;
  }
  for (const key in value) {
    budget.attributes -= 1;
    if (budget.attributes < 0) return `it has more than ${CONTEXT_LIMITS.maxAttributes} attributes (keys and array elements)`;
    budget.text -= key.length;
    if (budget.text < 0) return `its keys and string values hold more than ${CONTEXT_LIMITS.maxTextLength} characters`;
    const problem = measure((value as Record<string, unknown>)[key], depth + 1, budget);
    if (problem) return problem;
  }
  return null;
}

/** Why a context is over the limits, or null when it is within them. */
function contextLimitViolation(context: Record<string, unknown>): string | null {
  return measure(context, 1, { attributes: CONTEXT_LIMITS.maxAttributes, text: CONTEXT_LIMITS.maxTextLength });
}

/**
 * The hand-written twin of `contextSchema` for the hot routes: true only for what the schema takes
 * unchanged (an object, not an array or null, within the limits), at the cost of one walk and no
 * allocation. A missing context is left to the schema, which supplies the default.
 */
export function isBoundedContext(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  // zod copies a record key by key and so does not keep an own `__proto__`: such a context is its to copy.
  return !Object.hasOwn(value, '__proto__') && contextLimitViolation(value as Record<string, unknown>) === null;
}

/** The schema of an evaluation context: an object of attributes, within CONTEXT_LIMITS (a validation_error otherwise). */
export function contextSchema(description: string) {
  return z
    .record(z.string(), z.unknown())
    .default({})
    .superRefine((context, check) => {
      const problem = contextLimitViolation(context);
      if (problem) check.addIssue({ code: 'custom', message: `the context is too large: ${problem}` });
    })
    .describe(`${description} At most ${CONTEXT_LIMITS.maxDepth} levels deep, ${CONTEXT_LIMITS.maxAttributes} attributes (keys and array elements) and ${CONTEXT_LIMITS.maxTextLength} characters of keys and string values.`);
}
