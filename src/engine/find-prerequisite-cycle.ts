import type { Prerequisite } from './types.ts';

/**
 * Would writing `changed` close a prerequisite loop? Walks the prerequisites from the changed flag
 * (with its new prerequisites, the others as stored) looking for a way back to it. The stored graph
 * is acyclic (every write went through this check), so any new cycle passes through `changed`.
 * Iterative, so a long chain cannot overflow the stack; deterministic (prerequisites in order).
 *
 * @returns the cycle as keys from the changed flag back to itself, e.g. `['a', 'b', 'a']`
 *   (`['a', 'a']` for a flag that requires itself), or null when there is none. The API answers a
 *   cycle with 409 `prerequisite_cycle` and the list in `details`.
 */
export function findPrerequisiteCycle(
  flags: ReadonlyMap<string, { readonly prerequisites: readonly Prerequisite[] }>,
  changed: { readonly key: string; readonly prerequisites: readonly Prerequisite[] },
): string[] | null {
  const prerequisitesOf = (key: string): readonly Prerequisite[] =>
    key === changed.key ? changed.prerequisites : (flags.get(key)?.prerequisites ?? []);
  // Flags already entered: a finished one cannot lead back to `changed`, and one still on the path
  // would be a loop that does not include `changed` (not this write's doing).
  const entered = new Set<string>([changed.key]);
  const path: { key: string; next: number }[] = [{ key: changed.key, next: 0 }];
  while (path.length > 0) {
    const top = path[path.length - 1]!;
    const prerequisites = prerequisitesOf(top.key);
    if (top.next >= prerequisites.length) {
      path.pop();
      continue;
    }
    const next = prerequisites[top.next++]!.flagKey;
    if (next === changed.key) return [...path.map((step) => step.key), changed.key];
    if (entered.has(next)) continue;
    entered.add(next);
    path.push({ key: next, next: 0 });
  }
  return null;
}
