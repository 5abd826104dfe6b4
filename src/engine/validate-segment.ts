import { checkConditions } from './check-conditions.ts';
import { formatZodIssues } from './format-zod-issues.ts';
import { segmentInputSchema } from './schema.ts';
import type { SegmentDefinition, ValidationIssue, ValidationResult } from './types.ts';

function nestedSegmentIssues(input: unknown): ValidationIssue[] {
  const conditions = typeof input === 'object' && input !== null ? (input as { conditions?: unknown }).conditions : undefined;
  if (!Array.isArray(conditions)) return [];
  const issues: ValidationIssue[] = [];
  conditions.forEach((condition: unknown, index) => {
    if (typeof condition === 'object' && condition !== null && 'segment' in condition) {
      issues.push({ path: `conditions[${index}]`, message: 'a segment cannot refer to another segment: copy its conditions instead' });
    }
  });
  return issues;
}

/**
 * Validates a segment as a client sends it: its shape (attribute conditions only: segments do not
 * nest, so they cannot form cycles), then the operators' own checks (RE2 patterns compile, versions
 * and dates parse, ranges are not empty).
 */
export function validateSegment(input: unknown): ValidationResult<SegmentDefinition> {
  const parsed = segmentInputSchema.safeParse(input);
  if (!parsed.success) {
    // Say why a segment reference is refused, instead of the schema's "op is required".
    const nested = nestedSegmentIssues(input);
    const issues = formatZodIssues(parsed.error.issues, input).filter((issue) => !nested.some((n) => issue.path === n.path || issue.path.startsWith(`${n.path}.`)));
    return { ok: false, issues: [...nested, ...issues] };
  }
  const data = parsed.data as SegmentDefinition;
  const issues: ValidationIssue[] = [];
  checkConditions(data.conditions, 'conditions', issues);
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: { key: data.key, name: data.name, description: data.description, conditions: data.conditions } };
}
