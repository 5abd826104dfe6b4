/**
 * Validation of flag and segment definitions as the service's write path runs it: the zod schemas,
 * the checks a schema cannot express (conditions, variants, references between flags) and their
 * issues in the contract's shape. Needs zod (an optional peer dependency of the package).
 */
export {
  attributeConditionSchema,
  conditionSchema,
  flagInputSchema,
  flagValueSchema,
  prerequisiteSchema,
  rolloutSchema,
  ruleSchema,
  segmentConditionSchema,
  segmentInputSchema,
  serveSchema,
  FLAG_KEY_PATTERN,
  LIMITS,
  type FlagInput,
  type SegmentInput,
} from './schema.ts';
export { validateFlag, DEFAULT_MAX_JSON_BYTES, type ValidateFlagOptions } from './validate-flag.ts';
export { formatZodIssues } from './format-zod-issues.ts';
export { validateSegment } from './validate-segment.ts';
export { checkFlagReferences, type FlagWorld, type FlagWorldEntry } from './check-flag-references.ts';
export { lintFlag, lintSegment, NEAR_CAP_SHARE, WARNING_CODES, type FlagLintOptions, type LintWarning, type WarningCode } from './lint-flag.ts';
