/**
 * Who made a change: the person or service behind the credential, and the credential itself. The id
 * is what audit entries, change requests and `createdBy`/`updatedBy` record, and what two-person
 * approval compares: a token's owner today, an identity provider's subject once people sign in, so
 * two tokens of one person are one actor.
 */
export interface Actor {
  id: string;
  /** A readable name for people reading the log; the id when none was given. */
  name: string;
  /** The token the change was made with; null when the service acts on its own (a workflow, start-up). */
  tokenId: string | null;
}

export const OWNER_KINDS = ['person', 'service'] as const;
/** Only a person may approve a change: a service's token is nobody's second pair of eyes. */
export type OwnerKind = (typeof OWNER_KINDS)[number];

/** The owner of the built-in admin token (FLAGS_ADMIN_TOKEN): the operators, as one service. */
export const BUILT_IN_ADMIN_ID = 'admin';

/** What the service records as the actor when it acts by itself: nobody may mint a token in these names. */
const RESERVED_IDS = new Set([BUILT_IN_ADMIN_ID, 'system', 'temporal-ui']);
/** Workflows act as `rollout:<flag>` and `change:<request>`, schedules as `schedule:<id>`. */
const RESERVED_PREFIXES = ['rollout:', 'change:', 'schedule:'];

export function isReservedActorId(id: string): boolean {
  const lower = id.toLowerCase();
  return RESERVED_IDS.has(lower) || RESERVED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** An actor known only by its id: a workflow, the service itself, or a person named by a workflow's record. */
export function actorNamed(id: string): Actor {
  return { id, name: id, tokenId: null };
}

/** The service itself (start-up, reconciliation). */
export const SYSTEM_ACTOR: Actor = { id: 'system', name: 'the service', tokenId: null };
