import { z } from 'zod';
import { FLAG_TYPES, type Operator } from './types.ts';

/**
 * The shapes a client sends, in zod v4. They are the single source of the OpenAPI document
 * (`z.toJSONSchema(flagInputSchema, { io: 'input' })`), so they stay JSON-Schema-representable:
 * no transforms, only `.default()`, `.regex()` and `.describe()`. What a shape cannot say (value
 * types per flag type, weights summing to 100, patterns that compile, ...) is checked by
 * `validateFlag`/`validateSegment`, which run these schemas first.
 */

export const FLAG_KEY_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** Rule ids and variant names: a little more liberal than keys (upper case allowed). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A dotted attribute path: `country`, `project.tier`. */
export const ATTRIBUTE_PATH_PATTERN = /^[A-Za-z0-9_$@:-]+(\.[A-Za-z0-9_$@:-]+)*$/;
export const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/;

/** Limits that keep one flag's compiled form and evaluation cost bounded. */
export const LIMITS = {
  tags: 50,
  listEntries: 10_000,
  prerequisites: 50,
  rules: 500,
  conditionsPerRule: 100,
  inValues: 10_000,
  stringValues: 1_000,
  distributionEntries: 100,
  variants: 100,
  patternLength: 1_024,
  attributePathLength: 256,
  identityLength: 256,
  descriptionLength: 2_000,
  approvers: 50,
} as const;

const flagKey = z
  .string()
  .regex(FLAG_KEY_PATTERN)
  .describe('Lower-case letters, digits, ".", "_" and "-", starting with a letter or digit; at most 128 characters.');

const attributePath = z
  .string()
  .max(LIMITS.attributePathLength)
  .regex(ATTRIBUTE_PATH_PATTERN)
  .describe('Attribute of the evaluation context; dots walk into nested objects (`project.tier`).');

const name = z.string().regex(NAME_PATTERN);

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** A value a flag can serve; the flag's `type` decides which of these is allowed (checked by validateFlag). */
export const flagValueSchema = z
  .union([z.boolean(), z.string(), z.number(), z.array(z.json()), z.record(z.string(), z.json())])
  .describe('A value of the flag\'s type: boolean, string, number, or a JSON object/array for `json` flags.');

const stringOrStrings = z.union([
  z.string().min(1),
  z.array(z.string().min(1)).min(1).max(LIMITS.stringValues),
]);

const instant = z
  .union([z.string(), z.number()])
  .describe('An ISO-8601 date (`2025-01-31`) or date-time with a zone (`2025-01-31T12:00:00Z`), or epoch milliseconds.');

const semver = z.string().describe('A semantic version; minor and patch may be omitted (`2`, `2.1`, `2.1.0-beta.1`).');

function attributeCondition<const Op extends Operator, V extends z.ZodType>(op: Op, value: V, description: string) {
  return z
    .strictObject({ attribute: attributePath, op: z.literal(op), value, negate: z.boolean().optional() })
    .describe(description);
}

/** `{ attribute, op, value, negate? }`, one shape per operator. */
export const attributeConditionSchema = z.discriminatedUnion('op', [
  attributeCondition('equals', scalar, 'The attribute equals the value (same type, no coercion).'),
  attributeCondition('in', z.array(scalar).min(1).max(LIMITS.inValues), 'The attribute equals one of the values.'),
  attributeCondition(
    'regex',
    z.string().min(1).max(LIMITS.patternLength).describe('RE2 syntax; unanchored unless the pattern says ^ or $.'),
    'The attribute is a string and the RE2 pattern matches somewhere in it.',
  ),
  attributeCondition(
    'range',
    z.strictObject({ min: z.number().optional(), max: z.number().optional() }),
    'The attribute is a number with min ≤ attribute < max; either bound may be omitted.',
  ),
  attributeCondition('starts_with', stringOrStrings, 'The attribute is a string starting with the value (or one of the values).'),
  attributeCondition('ends_with', stringOrStrings, 'The attribute is a string ending with the value (or one of the values).'),
  attributeCondition('contains', stringOrStrings, 'The attribute is a string containing the value (or one of the values).'),
  attributeCondition('semver_eq', semver, 'The attribute is a semantic version equal to the value.'),
  attributeCondition('semver_lt', semver, 'The attribute is a semantic version lower than the value.'),
  attributeCondition('semver_lte', semver, 'The attribute is a semantic version lower than or equal to the value.'),
  attributeCondition('semver_gt', semver, 'The attribute is a semantic version greater than the value.'),
  attributeCondition('semver_gte', semver, 'The attribute is a semantic version greater than or equal to the value.'),
  attributeCondition('before', instant, 'The attribute is a date (same formats as the value) strictly before the value.'),
  attributeCondition('after', instant, 'The attribute is a date (same formats as the value) strictly after the value.'),
  z
    .strictObject({ attribute: attributePath, op: z.literal('exists'), negate: z.boolean().optional() })
    .describe('The attribute is present and not null; negated, it holds when the attribute is missing.'),
]);

export const segmentConditionSchema = z
  .strictObject({ segment: flagKey, negate: z.boolean().optional() })
  .describe('Holds when every condition of the segment holds.');

export const conditionSchema = z.union([attributeConditionSchema, segmentConditionSchema]);

const weightedVariant = z.strictObject({
  variant: name,
  weight: z.number().min(0).max(100).describe('Percent, at most three decimals; the weights of a distribution sum to 100.'),
});

const distribution = z.array(weightedVariant).min(1).max(LIMITS.distributionEntries);

const bucketBy = attributePath.describe(
  'Attribute whose value is the identity for bucketing (default `userId`, then `targetingKey`); falls back to `projectId`.',
);

export const serveSchema = z.union([
  z.strictObject({ value: flagValueSchema }),
  z.strictObject({ variant: name }),
  z.strictObject({ distribution, bucketBy: bucketBy.optional() }),
]);

export const ruleSchema = z.strictObject({
  id: name.describe('Unique within the flag; reported as `ruleId`. "allowlist" and "denylist" are reserved.'),
  conditions: z.array(conditionSchema).max(LIMITS.conditionsPerRule).describe('All must hold (AND); an empty list always holds.'),
  serve: serveSchema,
});

export const rolloutSchema = z.union([
  z.strictObject({
    percentage: z.number().min(0).max(100).describe('0–100 with at most three decimals.'),
    bucketBy: bucketBy.optional(),
  }),
  z.strictObject({ distribution, bucketBy: bucketBy.optional() }),
]);

export const prerequisiteSchema = z.strictObject({
  flagKey,
  value: flagValueSchema.describe('The value the prerequisite flag must evaluate to, for the same context.'),
});

const identity = z.string().min(1).max(LIMITS.identityLength);

/** What a client sends to create (or fully replace) a flag: everything but state, version and metadata. */
export const flagInputSchema = z
  .strictObject({
    key: flagKey,
    type: z.enum(FLAG_TYPES),
    description: z.string().max(LIMITS.descriptionLength).default(''),
    tags: z.array(z.string().regex(TAG_PATTERN)).max(LIMITS.tags).default([]),
    enabled: z.boolean().default(true).describe('When false the flag serves `offValue` with reason `off`.'),
    onValue: flagValueSchema
      .optional()
      .describe('Served to allowlisted identities and the in-rollout share. Defaults to `true` for boolean flags; required for other types when an allowlist or a percentage rollout needs it.'),
    offValue: flagValueSchema.optional().describe('Served when the flag is off, killed, denied or a prerequisite fails. Defaults to `defaultValue`.'),
    defaultValue: flagValueSchema,
    variants: z.record(name, flagValueSchema).default({}).describe('Named values that rules and distributions refer to.'),
    allowlist: z.array(identity).max(LIMITS.listEntries).default([]).describe('Identities (userId, targetingKey or projectId) that get `onValue`.'),
    denylist: z.array(identity).max(LIMITS.listEntries).default([]).describe('Identities (userId, targetingKey or projectId) that get `offValue`; wins over the allowlist.'),
    prerequisites: z.array(prerequisiteSchema).max(LIMITS.prerequisites).default([]),
    rules: z.array(ruleSchema).max(LIMITS.rules).default([]).describe('Tried in order; the first whose conditions all hold serves.'),
    rollout: rolloutSchema.optional(),
    killswitch: flagKey.optional().describe('Killswitch category; engaging it turns this flag off.'),
    highImpact: z.boolean().default(false).describe('Changes need a second person\'s approval.'),
    owner: z.string().min(1).max(200).optional().describe('Who answers for the flag (a person or a team); the weekly flag.stale event is sent per owner.'),
    expectedLifetime: z.union([z.literal('permanent'), z.number().int().min(1).max(3_650)]).optional()
      .describe('"permanent" (an operational toggle: never stale), or the days a temporary flag is expected to live; older, it is stale.'),
    approvers: z
      .array(z.string().min(1).max(256))
      .min(1)
      .max(LIMITS.approvers)
      .optional()
      .describe('For a high-impact flag: who may approve its changes, as identities (a token owner\'s id, a JWT\'s identity claim) or "group:<name>" (an identity provider group). Absent: any person with feature_flag:approve.'),
  })
  .describe('A feature flag as a client writes it.');

/** What a client sends to create (or fully replace) a segment. Segment conditions cannot refer to other segments. */
export const segmentInputSchema = z
  .strictObject({
    key: flagKey,
    name: z.string().min(1).max(200),
    description: z.string().max(LIMITS.descriptionLength).default(''),
    conditions: z.array(attributeConditionSchema).max(LIMITS.conditionsPerRule).describe('All must hold (AND); an empty list matches every context.'),
  })
  .describe('A named, reusable set of conditions.');

export type FlagInput = z.input<typeof flagInputSchema>;
export type SegmentInput = z.input<typeof segmentInputSchema>;
