// Pure helpers shared by the rollout workflow, its activities, the data layer and the API: no
// imports but types, so importing them never loads the Temporal workflow runtime.
import type { Rollout, WeightedVariant } from '@flagship/engine';
import type { RolloutPlan } from './rollout-plan.ts';

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

/** `250 ms`, `2 s`, `1.5 s`, `5 min`, `1 h 30 min`, `2 d`: a span as the UI's texts show it. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10} s`;
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  return `${Math.round(hours / 24)} d`;
}

/** How the plan catches up after a delay, for the UI's static details and the API. */
export function describeCatchUp(plan: RolloutPlan): string {
  if (plan.catchUp === 'immediate') return 'overdue steps at once';
  if (plan.minDwellMs !== undefined) return `steps at least ${formatDuration(plan.minDwellMs)} apart`;
  return 'steps at least their planned gap apart (5 min at most)';
}

/** `2025-01-02 14:00:05 UTC`: what the UI's details and summaries show. */
export function formatUtc(epochMs: number): string {
  return `${new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '')} UTC`;
}
