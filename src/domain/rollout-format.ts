// Pure helpers shared by the rollout workflow, its activities, the data layer and the API: no
// imports but types, so importing them never loads the Temporal workflow runtime.
import type { Rollout, WeightedVariant } from '../engine/types.ts';
import type { RolloutPlan, RolloutState, RolloutWorkflowInput } from '../workflows/rollout-definitions.ts';

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

/** The Temporal UI's static summary of a rollout workflow: `Rollout of new-checkout: no rollout → 10% → 50%`. */
export function rolloutStaticSummary(flagKey: string, plan: RolloutPlan, start: Rollout | null | undefined): string {
  const path = [describeRollout(start ?? null), ...plan.steps.map((step) => describeRollout(step.rollout))].join(' → ');
  return `Rollout of ${flagKey}: ${path}`.slice(0, 400);
}

/** The Temporal UI's static details of a rollout workflow: who, why, every step, how to control it. */
export function rolloutStaticDetails(input: RolloutWorkflowInput): string {
  const lines = input.plan.steps.map((step, index) => {
    const gate = step.gate ? ` · gate: ${step.gate.type} ${step.gate.type === 'prometheus' ? step.gate.query : step.gate.url} (on failure: ${step.gate.onFailure})` : '';
    return `${index + 1}. ${describeRollout(step.rollout)} at ${formatUtc(step.targetAt)}${gate}`;
  });
  return [
    `**Flag** \`${input.flagKey}\` · **started by** ${input.startedBy}${input.reason ? ` · ${input.reason}` : ''}`,
    `**Plan** (on resume: ${input.plan.onResume}; catching up: ${describeCatchUp(input.plan)}${input.plan.bucketBy ? `; bucketBy ${input.plan.bucketBy}` : ''}):`,
    ...lines,
    'Controls: signal `pause` / `resume` (input nothing or `{"reason": "…"}`), Cancel (optionally signal `cancelOptions` `{"rollback": true}` first).',
  ].join('\n');
}
