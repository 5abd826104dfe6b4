// Who a request acts as, once its credential is checked: built from a token (here) or a JWT
// (jwt-authenticator.ts), read by every route that authorizes or records an actor.
import type { Actor, OwnerKind } from '../data/actor.ts';
import type { LiveToken, Scope } from '../data/tokens.ts';

export interface Principal {
  tokenId: string;
  /** The token's own name, for messages. */
  name: string;
  /**
   * The person or service behind the credential, with the token used: the actor recorded in audit
   * entries and change requests, and what two-person approval compares. A JWT's identity claim
   * fills it the same way (jwt-authenticator.ts), so a person is one actor whichever credential they use.
   */
  actor: Actor;
  /** Only people approve changes. */
  ownerKind: OwnerKind;
  /** The identity provider groups of a JWT's person (a flag's `approvers` may name them); none for a token. */
  groups: readonly string[];
  scopes: ReadonlySet<Scope>;
  projectIds: readonly string[] | null;
  /** A front-end's token that requires signed contexts, with the secret when this process has it (see browser-evaluation.ts). */
  contextSigning?: { secret: string | undefined };
}

/** Built once per token when the token set learns of it, never per request. */
export function toPrincipal(token: LiveToken): Principal {
  return {
    tokenId: token.id,
    name: token.name,
    actor: { id: token.owner.id, name: token.owner.name, tokenId: token.id },
    ownerKind: token.owner.kind,
    groups: [],
    scopes: new Set(token.scopes),
    projectIds: token.projectIds,
    ...(token.signedContext ? { contextSigning: { secret: token.contextSigningSecret } } : {}),
  };
}
