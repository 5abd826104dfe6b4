// The approval workflow's public contract: its input, its state, its updates and query, and the
// search attribute it keeps current. The API and the activities import these (types
// with `import type`); the names are persisted in histories and typed by people in the Temporal UI
// and CLI, so they never change.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ChangeFailure, ChangeKind, ChangeRequestStatus } from '../domain/change-request.ts';

export const CHANGE_REQUEST_WORKFLOW_TYPE = 'changeRequestWorkflow';

export interface ChangeRequestWorkflowInput {
  requestId: string;
  flagKey: string;
  kind: ChangeKind;
  /** The proposed change as filed (shown in the Temporal UI); the activity applies the stored one after checking its hash. */
  change: Record<string, unknown>;
  /** What an approval binds to: `sha256:<hex>` of the change's canonical content. */
  contentHash: string;
  baseVersion: number;
  requestedBy: string;
  reason?: string;
  /** Epoch ms; the workflow's timer expires the request then. */
  expiresAt: number;
}

export interface ChangeDecision {
  kind: 'approved' | 'rejected' | 'cancelled';
  /** The decider's id (a token's owner, a person's identity). */
  by: string;
  /** Their readable name and the token they decided with, when the API sent them (not from the Temporal UI). */
  byName?: string;
  tokenId?: string;
  comment: string | null;
  /** Epoch ms (workflow time). */
  at: number;
}

export interface ChangeRequestState {
  requestId: string;
  flagKey: string;
  kind: ChangeKind;
  status: ChangeRequestStatus;
  contentHash: string;
  requestedBy: string;
  expiresAt: number;
  decision: ChangeDecision | null;
  /** What the applied change produced: the flag's new version, or the started rollout. */
  result: { flagVersion?: number | null; rolloutId?: string; segmentVersion?: number } | null;
  failure: ChangeFailure | null;
}

/**
 * Who decides, as the API sends it: `by` is the id of the person behind the credential (a token's
 * owner, an identity provider's subject), compared with the requester's; the name and the token go
 * into the audit entry.
 */
interface DeciderInput {
  by: string;
  byName?: string;
  tokenId?: string;
}

export interface ApproveInput extends DeciderInput {
  /** The hash of the content being approved; must be the request's. */
  contentHash: string;
  comment?: string;
}

export interface RejectInput extends DeciderInput {
  reason?: string;
}

export interface CancelInput extends DeciderInput {
  reason?: string;
}

/** Since this marker, the approval workflow compares identities with `sameIdentity` (before: exact token names). */
export const COMPARES_IDENTITIES_PATCH = 'approvals-compare-identities';

export const approveUpdate = defineUpdate<ChangeRequestState, [ApproveInput]>('approve');
export const rejectUpdate = defineUpdate<ChangeRequestState, [RejectInput]>('reject');
export const cancelUpdate = defineUpdate<ChangeRequestState, [CancelInput]>('cancel');
export const changeStatusQuery = defineQuery<ChangeRequestState>('status');

export const CHANGE_HANDLER_DESCRIPTIONS = {
  approve: 'Approve the change as a second person: {"by": "<name>", "contentHash": "sha256:…", "comment"?}. Refused for the requester (permission_denied), a different hash (version_conflict), or a request no longer pending. Answers once the change is applied or has failed.',
  reject: 'Reject the change: {"by": "<name>", "reason"?}. Refused for the requester (who cancels instead) and for a request no longer pending.',
  cancel: 'Withdraw the change request: {"by": "<name>", "reason"?}. The API allows it to the requester and admins.',
  status: 'The request as it stands: status, who decided, the applied version or the failure.',
} as const;

/** Registered by `temporal/search-attributes.json`; see FLAG_KEY_ATTRIBUTE in rollout-definitions.ts for why plain objects. */
export const CHANGE_REQUEST_STATUS_ATTRIBUTE = { name: 'ChangeRequestStatus', type: 'KEYWORD' } as const;
/**
 * Who asked: the requester's actor id (a token's owner, a JWT's person), set when the request's
 * workflow starts, so the list view filters by person: `ChangeRequestedBy = "alice@example.com"`.
 */
export const CHANGE_REQUESTED_BY_ATTRIBUTE = { name: 'ChangeRequestedBy', type: 'KEYWORD' } as const;
