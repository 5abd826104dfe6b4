// What a change request is, apart from the workflow that decides it: the data layer stores it, the
// API files and lists it, the approval workflow and its activities move it through its statuses.
import type { ErrorCode } from '../errors.ts';

/**
 * What a change request proposes: a merge patch, archiving, restoring, a rollout plan or scheduled
 * changes of a flag, or a merge patch of a segment that high-impact flags use (filed under the first of them).
 */
export const CHANGE_KINDS = ['patch', 'archive', 'restore', 'rollout', 'schedule', 'segment-patch'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/**
 * `pending` until a second person decides or it expires; `approved` while the change is being
 * applied; then `applied` or `failed` (the flag moved since the request: `version_conflict`, or the
 * change no longer fits). `rejected`, `expired` and `cancelled` end it without a change.
 */
export const CHANGE_REQUEST_STATUSES = ['pending', 'approved', 'applied', 'rejected', 'expired', 'cancelled', 'failed'] as const;
export type ChangeRequestStatus = (typeof CHANGE_REQUEST_STATUSES)[number];

/** A contract error code and message, as recorded on a failed request. */
export interface ChangeFailure {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/**
 * Whether two ids name the same person. Ids are compared without regard to case, so `Alice@x.com`
 * and `alice@x.com` are one person: a second token of the same person never makes a second person.
 */
export function sameIdentity(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
