import { compileFlagSet, type CompiledFlagSet, type Condition, type Flag } from '@flagship/engine';
import type { SnapshotDocument } from './types.ts';

export interface CompiledSnapshot {
  set: CompiledFlagSet;
  /** Flags this SDK's engine could not compile (a newer service's operator, say). */
  unsupported: ReadonlySet<string>;
}

/**
 * Compiles a verified snapshot. The service validated every flag before signing, so the whole set
 * compiles; if it does not (a feature newer than this SDK), every flag that does compile is kept
 * and the others are named, so one unknown operator cannot stop a service from taking updates.
 */
export function compileSnapshot(document: SnapshotDocument): CompiledSnapshot {
  const killswitches = new Set(document.killswitches);
  try {
    return { set: compileFlagSet({ flags: document.flags, segments: document.segments, killswitches }), unsupported: new Set() };
  } catch {
    // Fall through to the flag-by-flag path below.
  }
  const segments = document.segments.filter((segment) => {
    try {
      compileFlagSet({ flags: [], segments: [segment] });
      return true;
    } catch {
      return false;
    }
  });
  const flags: Flag[] = [];
  const unsupported = new Set<string>();
  for (const flag of document.flags) {
    try {
      compileFlagSet({ flags: [flag], segments });
      flags.push(flag);
    } catch {
      unsupported.add(flag.key);
    }
  }
  return { set: compileFlagSet({ flags, segments, killswitches }), unsupported };
}

/**
 * Keys whose answer may differ between two snapshots: flags added, removed or at another version,
 * flags using a segment that changed, and flags whose killswitch category was engaged or released.
 */
export function changedFlagKeys(before: SnapshotDocument | null, after: SnapshotDocument): string[] {
  if (before === null) return after.flags.map((flag) => flag.key);
  const changed = new Set<string>();
  const oldFlags = new Map(before.flags.map((flag) => [flag.key, flag]));
  const newKeys = new Set<string>();
  for (const flag of after.flags) {
    newKeys.add(flag.key);
    if (oldFlags.get(flag.key)?.version !== flag.version) changed.add(flag.key);
  }
  for (const key of oldFlags.keys()) if (!newKeys.has(key)) changed.add(key);

  const oldSegments = new Map(before.segments.map((segment) => [segment.key, JSON.stringify(segment.conditions)]));
  const changedSegments = new Set<string>();
  for (const segment of after.segments) {
    if (oldSegments.get(segment.key) !== JSON.stringify(segment.conditions)) changedSegments.add(segment.key);
    oldSegments.delete(segment.key);
  }
  for (const key of oldSegments.keys()) changedSegments.add(key);

  const oldKillswitches = new Set(before.killswitches);
  const newKillswitches = new Set(after.killswitches);
  const toggled = new Set([...oldKillswitches, ...newKillswitches].filter((category) => oldKillswitches.has(category) !== newKillswitches.has(category)));

  if (changedSegments.size > 0 || toggled.size > 0) {
    for (const flag of after.flags) {
      if (changed.has(flag.key)) continue;
      if (flag.killswitch !== undefined && toggled.has(flag.killswitch)) changed.add(flag.key);
      else if (changedSegments.size > 0 && (flag.rules ?? []).some((rule) => usesSegment(rule.conditions ?? [], changedSegments))) changed.add(flag.key);
    }
  }
  // A prerequisite's change reaches its dependents: repeat until nothing new is found.
  let grew = changed.size > 0;
  while (grew) {
    grew = false;
    for (const flag of after.flags) {
      if (!changed.has(flag.key) && (flag.prerequisites ?? []).some((prerequisite) => changed.has(prerequisite.flagKey))) {
        changed.add(flag.key);
        grew = true;
      }
    }
  }
  return [...changed].sort();
}

function usesSegment(conditions: readonly Condition[], segments: ReadonlySet<string>): boolean {
  return conditions.some((condition) => 'segment' in condition && segments.has(condition.segment));
}
