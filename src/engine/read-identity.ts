import { compileAttributeReader, type AttributeReader } from './read-attribute.ts';
import type { EvaluationContext } from './types.ts';

/** Reads the identity used for bucketing; `undefined` when the context has none. */
export type IdentityReader = (context: EvaluationContext) => string | undefined;

export const DEFAULT_BUCKET_BY = 'userId';

/**
 * An attribute value usable as an identity: a non-empty string, or a finite number (as its decimal
 * string, as LaunchDarkly does). Anything else counts as absent.
 */
export function asIdentity(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

const readTargetingKey = compileAttributeReader('targetingKey');
const readProjectId = compileAttributeReader('projectId');

/**
 * The identity for a `bucketBy` path, in the contract's order with OpenFeature added:
 * `context[bucketBy]`; when bucketBy is `userId` (the default) and it is absent, `targetingKey`
 * (OpenFeature's name for the same thing, so OFREP callers bucket like everyone else); then
 * `projectId`.
 */
export function compileIdentityReader(bucketBy: string = DEFAULT_BUCKET_BY): IdentityReader {
  if (bucketBy === DEFAULT_BUCKET_BY) {
    return (context) => {
      const userId = context.userId;
      if (typeof userId === 'string' && userId.length > 0) return userId;
      return asIdentity(userId) ?? asIdentity(readTargetingKey(context)) ?? asIdentity(readProjectId(context));
    };
  }
  const read: AttributeReader = compileAttributeReader(bucketBy);
  return (context) => asIdentity(read(context)) ?? asIdentity(readProjectId(context));
}

/** Which attribute supplied the identity (for explanations); mirrors {@link compileIdentityReader}. */
export function identitySource(context: EvaluationContext, bucketBy: string = DEFAULT_BUCKET_BY): { attribute: string; value: string } | null {
  const candidates = bucketBy === DEFAULT_BUCKET_BY ? [bucketBy, 'targetingKey', 'projectId'] : [bucketBy, 'projectId'];
  for (const attribute of candidates) {
    const value = asIdentity(compileAttributeReader(attribute)(context));
    if (value !== undefined) return { attribute, value };
  }
  return null;
}

/**
 * The attributes an allowlist or denylist entry is matched against: `userId`, `targetingKey`,
 * `projectId`, and the flag's rollout `bucketBy` when it names another attribute. An entry matches
 * when any of them equals it, so a list can name users and projects side by side.
 */
export function listIdentityAttributes(rolloutBucketBy: string | undefined): string[] {
  const attributes = ['userId', 'targetingKey', 'projectId'];
  if (rolloutBucketBy !== undefined && !attributes.includes(rolloutBucketBy)) attributes.push(rolloutBucketBy);
  return attributes;
}

