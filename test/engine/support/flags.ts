import { type Flag, type Segment } from '@flagship/engine';
import { validateFlag, validateSegment } from '@flagship/engine/validate';

/** A stored flag from a client's input: validated (defaults filled), active, version 1 unless given. */
export function storedFlag(input: Record<string, unknown>, stored: Partial<Pick<Flag, 'state' | 'version'>> = {}): Flag {
  const result = validateFlag(input);
  if (!result.ok) throw new Error(`invalid test flag: ${JSON.stringify(result.issues)}`);
  return { ...result.value, state: stored.state ?? 'active', version: stored.version ?? 1 };
}

export function storedSegment(input: Record<string, unknown>): Segment {
  const result = validateSegment(input);
  if (!result.ok) throw new Error(`invalid test segment: ${JSON.stringify(result.issues)}`);
  return result.value;
}
