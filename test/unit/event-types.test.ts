import { describe, expect, it } from '@jest/globals';
import { eventTypePatternSchema, matchesEventType } from '../../src/events/event-types.ts';

describe('matchesEventType', () => {
  it('matches exact types, families and *; an empty list matches everything', () => {
    expect(matchesEventType([], 'flag.updated')).toBe(true);
    expect(matchesEventType(['*'], 'segment.deleted')).toBe(true);
    expect(matchesEventType(['flag.updated'], 'flag.updated')).toBe(true);
    expect(matchesEventType(['flag.updated'], 'flag.created')).toBe(false);
    expect(matchesEventType(['flag.*'], 'flag.rollout_progress')).toBe(true);
    expect(matchesEventType(['flag.*'], 'flags.updated')).toBe(false);
    expect(matchesEventType(['flag.*'], 'flag')).toBe(false);
    expect(matchesEventType(['segment.*', 'flag.archived'], 'flag.archived')).toBe(true);
  });

  it('sends exposure events only to filters that name them exactly', () => {
    expect(matchesEventType([], 'flag.exposure')).toBe(false);
    expect(matchesEventType(['*'], 'flag.exposure')).toBe(false);
    expect(matchesEventType(['flag.*'], 'flag.exposure')).toBe(false);
    expect(matchesEventType(['flag.exposure'], 'flag.exposure')).toBe(true);
    expect(matchesEventType(['flag.*', 'flag.exposure'], 'flag.exposure')).toBe(true);
  });

  it('accepts only well-formed patterns', () => {
    for (const good of ['*', 'flag.updated', 'flag.*', 'change.approved', 'flag.rollout_progress']) expect(eventTypePatternSchema.safeParse(good).success).toBe(true);
    for (const bad of ['', 'Flag.updated', 'flag.', 'flag..x', '*.updated', 'flag.*.x', 'flag updated']) expect(eventTypePatternSchema.safeParse(bad).success).toBe(false);
  });
});
