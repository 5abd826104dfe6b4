// Pure helpers shared by the rollout workflow, its activities, the data layer and the API: no
// imports but types, so importing them never loads the Temporal workflow runtime.
import type { Rollout, WeightedVariant } from '../engine/types.ts';
import type { RolloutState } from './rollout-definitions.ts';

export const ACTIVE_ROLLOUT_STATES = ['scheduled', 'running', 'paused'] as const satisfies readonly RolloutState[];

/** The share of traffic a rollout puts in: its percentage, or 100 for a distribution (everyone who reaches it gets a variant). */
export function rolloutPercent(rollout: Rollout | null | undefined): number {
  if (!rollout) return 0;
  return 'percentage' in rollout ? rollout.percentage : 100;
}

/** `25%`, or `A 50 / B 50` for a distribution. */
export function describeRollout(rollout: Rollout | null | undefined): string {
  if (!rollout) return 'no rollout';
  if ('percentage' in rollout) return `${rollout.percentage}%`;
  return rollout.distribution.map((entry: WeightedVariant) => `${entry.variant} ${entry.weight}`).join(' / ');
}

/** `2025-01-02 14:00:05 UTC`: what the UI's details and summaries show. */
export function formatUtc(epochMs: number): string {
  return `${new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '')} UTC`;
}
