import { z } from 'zod';
import { isReservedActorId, OWNER_KINDS, type OwnerKind } from '../data/actor.ts';
import { SCOPES, type Scope } from '../data/tokens.ts';
import { AppError } from '../errors.ts';
import type { Principal } from './principal.ts';

/** What one group or role of the identity provider grants here. */
const roleGrantSchema = z.strictObject({
  scopes: z.array(z.enum(SCOPES)).min(1),
  /** Evaluation (and token minting) limited to these projects; absent means every project. */
  projects: z.array(z.string().min(1).max(128)).min(1).optional(),
  /** `service` for the groups of machine identities (client credentials): they never approve. */
  kind: z.enum(OWNER_KINDS).optional(),
});

/** FLAGS_OIDC_ROLES: a JSON object from group (or role) name to its grant. */
const roleMapSchema = z.record(z.string().min(1), roleGrantSchema);
export type RoleMap = z.output<typeof roleMapSchema>;

/** Throws an Error naming what is wrong, for the configuration's start-up check. */
export function parseRoleMap(text: string | undefined): RoleMap {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('is not JSON: write {"<group>": {"scopes": ["feature_flag:manage"], "projects"?: ["web"], "kind"?: "service"}}');
  }
  const parsed = roleMapSchema.safeParse(value);
  if (!parsed.success) {
    throw new Error(parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || 'the map'}: ${issue.message}`).join('; '));
  }
  return parsed.data;
}

export const IDENTITY_CLAIMS = ['sub', 'email'] as const;
/** Which claim is the person's id: the id their tokens' owner must carry for both to be one person. */
export type IdentityClaim = (typeof IDENTITY_CLAIMS)[number];

export interface ClaimMapping {
  identityClaim: IdentityClaim;
  /** Where the groups are: a claim name, or a dotted path into nested claims (`realm_access.roles`). */
  groupsClaim: string;
  roles: RoleMap;
}

type Claims = Record<string, unknown>;

function readPath(claims: Claims, path: string): unknown {
  let value: unknown = claims[path];
  if (value !== undefined || !path.includes('.')) return value;
  value = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Claims)[part];
  }
  return value;
}

/** The groups a token carries: a list of strings, or one string (some providers send a single role so). */
export function groupsOf(claims: Claims, groupsClaim: string): string[] {
  const value = readPath(claims, groupsClaim);
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function identityOf(claims: Claims, claim: IdentityClaim): { id: string; name: string } {
  const id = claims[claim];
  if (typeof id !== 'string' || id === '' || id.length > 256) throw new AppError('unauthenticated', `the JWT carries no "${claim}" claim to identify its person by`);
  // The service's own names in the audit log (`admin`, `system`, the workflows) are nobody's to sign in as.
  if (isReservedActorId(id)) throw new AppError('unauthenticated', `the JWT's "${claim}" claim "${id}" is one of the service's own actors; it cannot name a person`);
  // An address the provider has not verified is anybody's to claim: it names nobody.
  if (claim === 'email' && claims.email_verified === false) throw new AppError('unauthenticated', 'the JWT\'s e-mail address is not verified');
  const readable = [claims.name, claims.email, claims.preferred_username].find((value): value is string => typeof value === 'string' && value !== '');
  return { id, name: (readable ?? id).slice(0, 200) };
}

/**
 * A verified JWT's principal: the person its identity claim names, with the union of what their
 * groups grant. Projects: if any matched group reaches every project, so does the person;
 * otherwise the union of the groups' projects. A person without a mapped group is authenticated
 * but holds no scope, so every route answers permission_denied. Any matched group of kind
 * `service` makes the caller a service, which never approves.
 */
export function principalFromClaims(claims: Claims, mapping: ClaimMapping): Principal {
  const { id, name } = identityOf(claims, mapping.identityClaim);
  const scopes = new Set<Scope>();
  let projectIds: Set<string> | null = new Set();
  let kind: OwnerKind = 'person';
  let matched = false;
  const groups = groupsOf(claims, mapping.groupsClaim);
  for (const group of groups) {
    const grant = Object.hasOwn(mapping.roles, group) ? mapping.roles[group] : undefined;
    if (!grant) continue;
    matched = true;
    for (const scope of grant.scopes) scopes.add(scope);
    if (grant.projects === undefined) projectIds = null;
    else if (projectIds !== null) for (const project of grant.projects) projectIds.add(project);
    if (grant.kind === 'service') kind = 'service';
  }
  return {
    // Not a token: the credential class and the person, so per-credential caps (event streams) count per person.
    tokenId: `jwt:${id}`.slice(0, 64),
    name: `JWT of ${name}`,
    actor: { id, name, tokenId: `jwt:${id}`.slice(0, 64) },
    ownerKind: kind,
    groups,
    scopes,
    projectIds: matched && projectIds !== null ? [...projectIds].sort() : matched ? null : [],
  };
}
