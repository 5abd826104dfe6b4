import { z } from 'zod';
import { OPT_IN_EVENT_TYPES } from '../domain/event-types.ts';

/**
 * An event type filter entry: an exact type (`flag.updated`), a family (`flag.*`, every type that
 * starts with `flag.`), or `*` for everything. Used by the SSE `types` filter and webhook `eventTypes`.
 */
const EVENT_TYPE_PATTERN = /^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$/;

export const eventTypePatternSchema = z
  .string()
  .max(100)
  .regex(EVENT_TYPE_PATTERN, 'must be an event type such as "flag.updated", a family such as "flag.*", or "*"');

/** True when `type` matches one of `patterns`; an empty list matches every type but the opt-in ones. */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  if (OPT_IN_EVENT_TYPES.has(type)) return patterns.includes(type);
  if (patterns.length === 0) return true;
  return patterns.some((pattern) => pattern === '*' || pattern === type || (pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1))));
}
