// One change request to a high-impact flag, as a durable workflow (id `change:<requestId>`): it
// waits for a second person's approve or reject (workflow updates whose validators refuse the
// requester, a different content hash and a request no longer pending), for the requester's cancel,
// or for its expiry timer; on approval an activity applies the change through the normal write path
// onto its base version. Deterministic: time is the workflow's clock, every side effect an activity.
// The function name and its commands are persisted in histories; change them only behind
// `patched()`, and keep the replay test green (test/integration/change-request-replay.test.ts).
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.ts';
import {
  approveUpdate,
  cancelUpdate,
  CHANGE_HANDLER_DESCRIPTIONS,
  CHANGE_REQUEST_STATUS_ATTRIBUTE,
  changeStatusQuery,
  COMPARES_IDENTITIES_PATCH,
  rejectUpdate,
  type ChangeDecision,
  type ChangeRequestState,
  type ChangeRequestWorkflowInput,
} from './change-request-definitions.ts';
import { FLAG_KEY_ATTRIBUTE, ROLLOUT_PERCENT_ATTRIBUTE, ROLLOUT_STATE_ATTRIBUTE, ROLLOUT_WORKFLOW_TYPE, rolloutStaticDetails, rolloutStaticSummary, type RolloutWorkflowInput } from './rollout-definitions.ts';
import { formatUtc, rolloutPercent } from '../domain/rollout-format.ts';
import { rolloutWorkflowId } from '../domain/workflow-ids.ts';
import { type ChangeFailure, type ChangeRequestStatus, sameIdentity } from '../domain/change-request.ts';

type Activities = ReturnType<typeof createActivities>;

/**
 * Short database transactions, retried without limit (a database or worker outage only delays the
 * outcome); the contract's error codes are non-retryable.
 */
const records = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes: ['not_found', 'validation_error'] },
});

/** Who a Temporal cancellation came from: the UI or CLI, which cannot name the person. */
const TEMPORAL_ACTOR = 'temporal-ui';

/** A refusal the API maps back to the contract's error: the failure's type is the code. */
function refuse(code: 'permission_denied' | 'validation_error' | 'version_conflict', message: string, details?: unknown): never {
  throw ApplicationFailure.create({ type: code, message, nonRetryable: true, ...(details === undefined ? {} : { details: [details] }) });
}

function readName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') refuse('validation_error', `"${field}" must name who asks`);
  return value;
}

export async function changeRequestWorkflow(input: ChangeRequestWorkflowInput): Promise<ChangeRequestState> {
  const { requestId, flagKey } = input;
  let status: ChangeRequestStatus = 'pending';
  let decision: ChangeDecision | null = null;
  let result: ChangeRequestState['result'] = null;
  let failure: ChangeFailure | null = null;
  /** Set once the outcome is recorded in the database: updates answer then, so the caller's next read sees it. */
  let concluded = false;
  let published: ChangeRequestStatus | null = null;
  // Requests filed before this marker compare token names exactly, as they did; newer ones compare
  // the identities behind the tokens (owners), so two tokens of one person are one person.
  const comparesIdentities = patched(COMPARES_IDENTITIES_PATCH);
  const isRequester = (by: string): boolean => (comparesIdentities ? sameIdentity(by, input.requestedBy) : by === input.requestedBy);
  // What the current details name: a segment patch's segment. Details are metadata a query reads, not
  // a command, so their text may change without a patch.
  const segmentKey = input.kind === 'segment-patch' && typeof input.change.segmentKey === 'string' ? input.change.segmentKey : null;
  const subject = segmentKey ? `segment \`${segmentKey}\` (used by \`${flagKey}\`)` : `\`${flagKey}\``;
  // Everything handlers touch is declared above this line: an update that arrived with the start is
  // delivered as soon as its handler is set, before the code after setHandler runs.

  const state = (): ChangeRequestState => ({
    requestId,
    flagKey,
    kind: input.kind,
    status,
    contentHash: input.contentHash,
    requestedBy: input.requestedBy,
    expiresAt: input.expiresAt,
    decision,
    result,
    failure,
  });

  /** Refuses a decision on a request that is no longer pending, or whose time ran out. */
  function assertPending(): void {
    if (decision) refuse('validation_error', `the change request is already ${decision.kind} by ${decision.by}`);
    if (status !== 'pending') refuse('validation_error', `the change request is ${status}`);
    // The workflow clock is the activation's time: an approval that arrives in the same activation as
    // the expiry timer (a worker that was down) loses to it.
    if (Date.now() >= input.expiresAt) refuse('validation_error', `the change request expired at ${new Date(input.expiresAt).toISOString()}`);
  }

  function decide(kind: ChangeDecision['kind'], decider: { by: string; byName?: string | undefined; tokenId?: string | undefined }, comment: string | null): void {
    decision = {
      kind,
      by: decider.by,
      // Sent by the API; anything else (a hand-typed update in the Temporal UI) is not recorded.
      ...(typeof decider.byName === 'string' && decider.byName ? { byName: decider.byName.slice(0, 200) } : {}),
      ...(typeof decider.tokenId === 'string' && decider.tokenId ? { tokenId: decider.tokenId.slice(0, 64) } : {}),
      comment,
      at: Date.now(),
    };
    status = kind;
    publish();
  }

  const finished = (): boolean => concluded;

  setHandler(changeStatusQuery, () => state(), { description: CHANGE_HANDLER_DESCRIPTIONS.status });

  setHandler(
    approveUpdate,
    async (update) => {
      decide('approved', update, update.comment ?? null);
      // Answer once the change is applied (or has failed), so the approver learns the outcome.
      await condition(finished);
      return state();
    },
    {
      description: CHANGE_HANDLER_DESCRIPTIONS.approve,
      validator: (update) => {
        const by = readName(update?.by, 'by');
        assertPending();
        if (isRequester(by)) refuse('permission_denied', `${by} requested this change; a second person must approve it`);
        if (update.contentHash !== input.contentHash) {
          refuse('version_conflict', `the approval names content ${String(update.contentHash)}, but the request's content is ${input.contentHash}; review it again`, { contentHash: input.contentHash });
        }
      },
    },
  );

  setHandler(
    rejectUpdate,
    async (update) => {
      decide('rejected', update, update.reason ?? null);
      await condition(finished);
      return state();
    },
    {
      description: CHANGE_HANDLER_DESCRIPTIONS.reject,
      validator: (update) => {
        const by = readName(update?.by, 'by');
        assertPending();
        if (isRequester(by)) refuse('permission_denied', `${by} requested this change; withdraw it with cancel instead`);
      },
    },
  );

  setHandler(
    cancelUpdate,
    async (update) => {
      decide('cancelled', update, update.reason ?? null);
      await condition(finished);
      return state();
    },
    {
      description: CHANGE_HANDLER_DESCRIPTIONS.cancel,
      validator: (update) => {
        readName(update?.by, 'by');
        assertPending();
      },
    },
  );

  /** Keeps the search attribute and the UI's current details in step with the status. */
  function publish(): void {
    if (published !== status) {
      upsertSearchAttributes([
        { key: FLAG_KEY_ATTRIBUTE, value: flagKey },
        { key: CHANGE_REQUEST_STATUS_ATTRIBUTE, value: status },
      ]);
      published = status;
    }
    setCurrentDetails(details());
  }

  function details(): string {
    const who = decision ? ` by ${decision.by}${decision.comment ? `: ${decision.comment}` : ''}` : '';
    switch (status) {
      case 'pending':
        return [
          `**pending** · ${input.kind} of ${subject} requested by ${input.requestedBy}`,
          `expires ${formatUtc(input.expiresAt)}`,
          `approve: POST /v1/changes/${requestId}/approve with a token holding feature_flag:approve (not ${input.requestedBy}'s)`,
        ].join('\n\n');
      case 'applied':
        return `**applied**${who} · ${result?.rolloutId ? `rollout ${result.rolloutId} started` : segmentKey ? `segment \`${segmentKey}\` changed` : `flag version ${result?.flagVersion ?? '?'}`}`;
      case 'failed':
        return `**failed**${who} · ${failure?.code ?? 'error'}: ${failure?.message ?? ''}`;
      case 'expired':
        return `**expired** at ${formatUtc(input.expiresAt)} without a decision`;
      default:
        return `**${status}**${who}`;
    }
  }

  /** Starts an approved plan's rollout workflow; it outlives this one (ABANDON). */
  async function startRollout(rollout: RolloutWorkflowInput): Promise<void> {
    try {
      await startChild(ROLLOUT_WORKFLOW_TYPE, {
        workflowId: rolloutWorkflowId(rollout.flagKey),
        args: [rollout],
        parentClosePolicy: 'ABANDON',
        cancellationType: 'ABANDON',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        typedSearchAttributes: [
          { key: FLAG_KEY_ATTRIBUTE, value: rollout.flagKey },
          { key: ROLLOUT_STATE_ATTRIBUTE, value: 'scheduled' },
          { key: ROLLOUT_PERCENT_ATTRIBUTE, value: rolloutPercent(rollout.startRollout) },
        ],
        staticSummary: rolloutStaticSummary(rollout.flagKey, rollout.plan, rollout.startRollout),
        staticDetails: `${rolloutStaticDetails(rollout)}\n**Approved** through change request ${requestId}.`,
      });
      result = { rolloutId: rollout.rolloutId };
      status = 'applied';
    } catch (error) {
      if (isCancellation(error)) throw error;
      failure = { code: 'rollout_conflict', message: `the approved rollout could not start: ${error instanceof Error ? error.message : String(error)}` };
      await records.failChangeRequest.executeWithOptions({ summary: 'Record failure: the rollout could not start' }, [{ requestId, failure, rolloutId: rollout.rolloutId }]);
      status = 'failed';
    }
  }

  async function conclude(): Promise<void> {
    if (!decision) {
      status = 'expired';
      publish();
      await records.recordChangeDecision.executeWithOptions({ summary: 'Record expiry' }, [{ requestId, status: 'expired', by: null }]);
      return;
    }
    const { kind, by, byName, tokenId, comment } = decision;
    await records.recordChangeDecision.executeWithOptions({ summary: `Record ${kind} by ${by}`.slice(0, 200) }, [
      { requestId, status: kind, by, comment, ...(byName ? { byName } : {}), ...(tokenId ? { tokenId } : {}) },
    ]);
    if (kind !== 'approved') return;
    let applied: Awaited<ReturnType<Activities['applyChangeRequest']>>;
    try {
      applied = await records.applyChangeRequest.executeWithOptions(
        { summary: `Apply ${input.kind} of ${flagKey} onto version ${input.baseVersion}`.slice(0, 200) },
        [{ requestId, approvedBy: by, contentHash: input.contentHash }],
      );
    } catch (error) {
      // Refusals are outcomes, not errors; this is the activity failing for good (a request row that
      // is not in the state the workflow knows). Record it rather than leave the request approved.
      if (isCancellation(error)) throw error;
      failure = { code: 'internal', message: `the approved change could not be applied: ${error instanceof Error ? ((error.cause instanceof Error ? error.cause.message : undefined) ?? error.message) : String(error)}` };
      await records.failChangeRequest.executeWithOptions({ summary: 'Record failure' }, [{ requestId, failure }]);
      status = 'failed';
      return;
    }
    if (applied.status === 'failed') {
      failure = applied.failure;
      status = 'failed';
    } else if (applied.rollout) {
      await startRollout(applied.rollout);
    } else {
      result = { flagVersion: applied.flagVersion };
      status = 'applied';
    }
  }

  publish();
  let cancelled: unknown = null;
  try {
    // The expiry is an absolute time, re-read after every wake-up (a replay, a late worker).
    while (!decision) {
      const remaining = input.expiresAt - Date.now();
      if (remaining <= 0) break;
      await condition(() => decision !== null, remaining, { summary: `Expires at ${formatUtc(input.expiresAt)}` });
    }
  } catch (error) {
    // Temporal's cancellation (the UI's Cancel, `temporal workflow cancel`): withdraw the request.
    if (!isCancellation(error)) throw error;
    cancelled = error;
    if (!decision) decide('cancelled', { by: TEMPORAL_ACTOR }, 'cancelled through Temporal');
  }
  // Nothing below is cancellable: a decision is always recorded, an approval always carried out.
  await CancellationScope.nonCancellable(async () => {
    await conclude();
    concluded = true;
    publish();
    await condition(allHandlersFinished);
  });
  if (cancelled) throw cancelled;
  return state();
}
