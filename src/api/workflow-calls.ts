// Calls from the API (and the worker's reconciler) to Temporal: every one answers within the
// configured bound, and Temporal not answering is `unavailable`. The rollout and change-request
// services share this instead of each keeping a copy.
import {
  isGrpcServiceError,
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type WorkflowExecutionDescription,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
import { AppError } from '../errors.ts';
import type { TemporalDependencies } from './dependencies.ts';

class TemporalDeadlineExceeded extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'TemporalDeadlineExceeded';
  }
}

/**
 * Temporal being unreachable, or not answering in time, is `unavailable`: the caller's request was
 * fine. Errors that are answers (no such workflow, an update refused, an id already taken) pass
 * through for the caller to map.
 */
function asUnavailable(error: unknown, what: string): unknown {
  if (error instanceof AppError) return error;
  if (error instanceof ServiceError || error instanceof WorkflowUpdateRPCTimeoutOrCancelledError || error instanceof TemporalDeadlineExceeded || isGrpcServiceError(error)) {
    return new AppError('unavailable', `Temporal did not answer while ${what}: ${error.message}`);
  }
  return error;
}

/**
 * How Temporal sees a record's workflow: its run's status (`RUNNING`, `COMPLETED`, `TERMINATED`, …),
 * or null when there is no such workflow, or the run under its id is not the record's (`isRecords`).
 * For reconciling a record whose workflow may have ended without recording it.
 */
export async function workflowRunStatus(
  temporal: Pick<TemporalDependencies, 'client'>,
  what: string,
  deadline: number,
  handle: WorkflowHandle,
  isRecords: (description: WorkflowExecutionDescription) => boolean = () => true,
): Promise<WorkflowExecutionStatusName | null> {
  try {
    const description = await callTemporal(temporal, what, deadline, () => handle.describe());
    return isRecords(description) ? description.status.name : null;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

/** The Temporal UI's page of a workflow run's history, when the UI's address is configured. */
export function temporalUiLink(temporal: Pick<TemporalDependencies, 'uiUrl' | 'namespace'>, workflowId: string, runId: string | null): string | null {
  if (!temporal.uiUrl) return null;
  return `${temporal.uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${runId}` : ''}/history`;
}

/** When a request's Temporal calls must have answered: one deadline for all of them. */
export function temporalDeadline(temporal: Pick<TemporalDependencies, 'callTimeoutMs'>): number {
  return Date.now() + temporal.callTimeoutMs;
}

/**
 * Runs `call`, whose Temporal requests all carry `deadline`, and settles by then whatever happens
 * inside: the client's own retries of a failed request may sleep past a deadline (by up to 5 s),
 * so a timer guards it too. A call that Temporal completes after the deadline still takes effect;
 * what answers `unavailable` is this request, not necessarily the change.
 */
export async function callTemporal<T>(temporal: Pick<TemporalDependencies, 'client'>, what: string, deadline: number, call: () => Promise<T>): Promise<T> {
  const timeoutMs = Math.max(0, deadline - Date.now());
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      temporal.client.withDeadline(deadline, call),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TemporalDeadlineExceeded(timeoutMs)), timeoutMs);
      }),
    ]);
  } catch (error) {
    throw asUnavailable(error, what);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for `promise` until `deadline` and says whether it settled; a rejection counts as settled.
 * For waits whose end is information, not a condition (a cancel waiting for the workflow to record it).
 */
export async function settledBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(() => true, () => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
