import { describe, expect, it } from '@jest/globals';
import { groupsOf, parseRoleMap, principalFromClaims, type ClaimMapping } from '../../src/api/identity-claims.ts';

const mapping: ClaimMapping = {
  identityClaim: 'sub',
  groupsClaim: 'groups',
  roles: parseRoleMap(JSON.stringify({
    admins: { scopes: ['feature_flag:admin'] },
    checkout: { scopes: ['feature_flag:manage'], projects: ['checkout'] },
    billing: { scopes: ['feature_flag:evaluate'], projects: ['billing', 'checkout'] },
    bots: { scopes: ['feature_flag:manage'], kind: 'service' },
  })),
};

describe('claims to a principal', () => {
  it('unions the scopes and projects of every mapped group, ignoring unmapped ones', () => {
    const principal = principalFromClaims({ sub: 'u-1', name: 'Una', groups: ['checkout', 'billing', 'unknown', 'toString'] }, mapping);
    expect(principal).toMatchObject({ actor: { id: 'u-1', name: 'Una', tokenId: 'jwt:u-1' }, ownerKind: 'person', projectIds: ['billing', 'checkout'], groups: ['checkout', 'billing', 'unknown', 'toString'] });
    expect([...principal.scopes].sort()).toEqual(['feature_flag:evaluate', 'feature_flag:manage']);
  });

  it('reaches every project when any mapped group has no project limit', () => {
    expect(principalFromClaims({ sub: 'u-2', groups: ['checkout', 'admins'] }, mapping).projectIds).toBeNull();
  });

  it('grants nothing, in no project, when no group is mapped', () => {
    const principal = principalFromClaims({ sub: 'u-3', groups: 'nobody' }, mapping);
    expect(principal.scopes.size).toBe(0);
    expect(principal.projectIds).toEqual([]);
  });

  it('makes the caller a service when a mapped group says so', () => {
    expect(principalFromClaims({ sub: 'ci', groups: ['bots'] }, mapping).ownerKind).toBe('service');
  });

  it('reads groups from a nested path, a single string, or not at all', () => {
    expect(groupsOf({ realm_access: { roles: ['a', 7, 'b'] } }, 'realm_access.roles')).toEqual(['a', 'b']);
    expect(groupsOf({ role: 'admins' }, 'role')).toEqual(['admins']);
    expect(groupsOf({ 'cognito:groups': ['x'] }, 'cognito:groups')).toEqual(['x']);
    expect(groupsOf({}, 'groups')).toEqual([]);
  });

  it('needs the identity claim, a verified address when the e-mail is the identity, and none of the service\'s own actor names', () => {
    expect(() => principalFromClaims({ groups: ['admins'] }, mapping)).toThrow(/no "sub" claim/);
    const byEmail = { ...mapping, identityClaim: 'email' as const };
    expect(principalFromClaims({ sub: 'x', email: 'Eve@Example.com', email_verified: true }, byEmail).actor).toEqual({ id: 'Eve@Example.com', name: 'Eve@Example.com', tokenId: 'jwt:Eve@Example.com' });
    expect(() => principalFromClaims({ sub: 'x', email: 'eve@example.com', email_verified: false }, byEmail)).toThrow(/not verified/);
    for (const reserved of ['admin', 'System', 'rollout:checkout', 'change:cr_1']) {
      expect(() => principalFromClaims({ sub: reserved, groups: ['admins'] }, mapping)).toThrow(/one of the service's own actors/);
    }
  });
});
