// A rollout's states and pause causes, once: the workflow records them, the data layer stores and
// filters by them, the API lists and validates them.

export const ROLLOUT_STATES = ['scheduled', 'running', 'paused', 'completed', 'cancelled', 'rolled_back', 'failed'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** The states of a plan that still owns its flag's rollout. */
export const ACTIVE_ROLLOUT_STATES = ['scheduled', 'running', 'paused'] as const satisfies readonly RolloutState[];
export type ActiveRolloutState = (typeof ACTIVE_ROLLOUT_STATES)[number];

export function isRolloutState(state: string): state is RolloutState {
  return (ROLLOUT_STATES as readonly string[]).includes(state);
}

export function isActiveRollout(state: string): state is ActiveRolloutState {
  return (ACTIVE_ROLLOUT_STATES as readonly string[]).includes(state);
}

/** Why a rollout is paused: a person or the UI (`manual`), or the rollout itself. */
export const PAUSE_CAUSES = ['manual', 'gate', 'conflict', 'auto_progress', 'killswitch', 'flag_unavailable'] as const;
export type PauseCause = (typeof PAUSE_CAUSES)[number];
