// The scheduled-change workflow's public contract: its input, outcome, signal and search attributes.
// The names are persisted in histories and typed by people in the Temporal UI and CLI; they never change.
import { defineSignal } from '@temporalio/workflow';

export const SCHEDULED_CHANGE_WORKFLOW_TYPE = 'scheduledChangeWorkflow';

export interface ScheduledChangeWorkflowInput {
  scheduledChangeId: string;
  flagKey: string;
  /** Epoch ms. The database row is the truth: a change moved later is found waiting when this fires. */
  runAt: number;
  /** Shown in the UI: who scheduled it and the fields it sets. */
  createdBy: string;
  fields: string[];
}

/** How a scheduled change ended, as its activity recorded it. */
export type ScheduledChangeOutcome =
  | { status: 'applied'; flagVersion: number; rebasedFrom?: number }
  | { status: 'failed'; failure: { code: string; message: string; details?: unknown } }
  | { status: 'cancelled' };

/** Wakes the workflow for a new time; the API sends it after committing a reschedule. */
export const rescheduleSignal = defineSignal<[{ runAt: number }]>('reschedule');

export const RESCHEDULE_SIGNAL_DESCRIPTION = 'Wake up for a new time, after the API has recorded a reschedule: {"runAt": <epoch ms>}. The stored time decides; reschedule through the API (POST /v1/flags/{key}/scheduled-changes/{id}/reschedule).';

/** Registered by `temporal/search-attributes.json`; see FLAG_KEY_ATTRIBUTE in rollout-definitions.ts for why plain objects. */
export const SCHEDULED_CHANGE_STATE_ATTRIBUTE = { name: 'ScheduledChangeState', type: 'KEYWORD' } as const;
export const SCHEDULED_FOR_ATTRIBUTE = { name: 'ScheduledFor', type: 'DATETIME' } as const;
