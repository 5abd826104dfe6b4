import type { Flag, FlagDefinition } from '@flagship/engine';
import type { ChangeRequestRecord } from '../data/change-requests.ts';
import { highImpactFlagsReachedFrom } from '../data/high-impact-reach.ts';
import type { StoredSegment } from '../data/segments.ts';
import type { WriteTransaction } from '../data/write-transaction.ts';
import { AppError } from '../errors.ts';
import { ApprovalNeeded } from './change-control.ts';
import { sameIdentity } from '../domain/change-request.ts';
import type { Principal } from './principal.ts';

// The write guards of two-person approval. Each runs under the write lock, inside the write's own
// transaction, so what it reads (which flags are high-impact, which depend on which) is what the
// write would change: a flag that became high-impact, or came to depend on this one, a moment ago
// is seen. A guard that throws ApprovalNeeded leaves nothing written; the route files a change request.

function keysOf(flags: readonly Flag[]): string {
  return flags.map((flag) => `"${flag.key}"`).join(', ');
}

/** Why a change to `flag` needs approval, or undefined: it is high-impact, or a prerequisite (at any depth) of one. */
async function reasonFor(flag: Flag, tx: WriteTransaction): Promise<string | undefined> {
  if (flag.highImpact) return `flag "${flag.key}" is high-impact`;
  const dependents = await highImpactFlagsReachedFrom(tx, [flag.key]);
  return dependents.length ? `flag "${flag.key}" is a prerequisite of the high-impact flag${dependents.length > 1 ? 's' : ''} ${keysOf(dependents)}` : undefined;
}

/** A flag patch: any change to a high-impact flag or to a prerequisite of one, and setting or removing the mark itself. */
export async function gateFlagPatch(current: Flag, next: FlagDefinition, tx: WriteTransaction): Promise<void> {
  if (next.highImpact !== current.highImpact) throw new ApprovalNeeded(`marking flag "${current.key}" high-impact is itself a high-impact change`, current.version);
  const why = await reasonFor(current, tx);
  if (why) throw new ApprovalNeeded(why, current.version);
}

/** An archive, restore or rollout plan of a high-impact flag or of a prerequisite of one. */
export async function gateFlagChange(flag: Flag, tx: WriteTransaction): Promise<void> {
  const why = await reasonFor(flag, tx);
  if (why) throw new ApprovalNeeded(why, flag.version);
}

/** A segment patch that reaches a high-impact flag: one that uses it, or depends (at any depth) on a flag that does. */
export async function gateSegmentPatch(current: StoredSegment, users: readonly Flag[], tx: WriteTransaction): Promise<void> {
  const reached = await highImpactFlagsReachedFrom(tx, users.map((flag) => flag.key));
  if (reached.length) throw new ApprovalNeeded(`segment "${current.key}" reaches the high-impact flag${reached.length > 1 ? 's' : ''} ${keysOf(reached)}`, current.version);
}

/** `group:<name>` names an identity provider group; anything else is a person's id. */
const GROUP_PREFIX = 'group:';

function fits(principal: Principal, entry: string): boolean {
  if (entry.startsWith(GROUP_PREFIX)) return principal.groups.includes(entry.slice(GROUP_PREFIX.length));
  return sameIdentity(entry, principal.actor.id);
}

/**
 * Refuses (permission_denied) an approver outside the lists the request recorded when it was filed:
 * for every touched flag that narrows its approvers, the approver must be one of them or in one of
 * its groups. The workflow separately refuses the requester.
 */
export function assertMayApprove(principal: Principal, request: ChangeRequestRecord): void {
  const unmet = request.approvers.filter((list) => !list.anyOf.some((entry) => fits(principal, entry)));
  if (unmet.length) {
    throw new AppError(
      'permission_denied',
      `${principal.actor.id} may not approve this change: ${unmet.map((list) => `flag "${list.flagKey}" takes approvals only from ${list.anyOf.join(', ')}`).join('; ')}`,
      { approvers: request.approvers },
    );
  }
}
