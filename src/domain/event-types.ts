// Every type of event the outbox carries (the SSE stream, webhooks and API processes read them),
// once: appendEvent takes only these, and docs/events.md lists them.

/** The event of each step of a rollout's life: `flag.rollout_<what>`. */
const ROLLOUT_EVENTS = ['scheduled', 'started', 'progress', 'paused', 'resumed', 'completed', 'cancelled', 'rolled_back', 'failed'] as const;

export const EXPOSURE_EVENT_TYPE = 'flag.exposure';
export const TRACKING_EVENT_TYPE = 'tracking.events';

export const EVENT_TYPES = [
  'flag.created', 'flag.updated', 'flag.archived', 'flag.restored', 'flag.stale', 'flag.purged', EXPOSURE_EVENT_TYPE,
  ...ROLLOUT_EVENTS.map((what) => `flag.rollout_${what}` as const),
  'segment.created', 'segment.updated', 'segment.deleted',
  'killswitch.engaged', 'killswitch.released',
  'token.created', 'token.revoked',
  'webhook.created', 'webhook.deleted',
  'change.requested', 'change.approved', 'change.rejected', 'change.cancelled', 'change.expired', 'change.applied', 'change.failed',
  'scheduled_change.created', 'scheduled_change.rescheduled', 'scheduled_change.cancelled', 'scheduled_change.applied', 'scheduled_change.failed',
  'rollout.auto_progress_changed',
  'audit.checkpoint',
  'retention.compacted',
  TRACKING_EVENT_TYPE,
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Exposure and tracking events are analytics streams, as many as evaluations SDKs report: only a
 * filter that names the type exactly receives them, never `*`, a family or an empty list.
 */
export const OPT_IN_EVENT_TYPES: ReadonlySet<string> = new Set<EventType>([EXPOSURE_EVENT_TYPE, TRACKING_EVENT_TYPE]);
