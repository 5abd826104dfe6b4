import type { FlagDefinition, FlagState, FlagType, Prerequisite, ValidationIssue } from './types.ts';
import { valueTypeError } from './validate-flag.ts';

/** What the cross-flag checks need to know about the other flags: a stored Flag fits. */
export interface FlagWorldEntry {
  readonly key: string;
  readonly state: FlagState;
  readonly prerequisites: readonly Prerequisite[];
  /** When given, a prerequisite's required value is checked against it. */
  readonly type?: FlagType;
}

export interface FlagWorld {
  readonly flags: ReadonlyMap<string, FlagWorldEntry>;
  readonly segments: ReadonlySet<string> | ReadonlyMap<string, unknown>;
}

/**
 * The checks of a flag against the rest of the project, run on write after `validateFlag`: every
 * prerequisite names an existing, active flag (and, when its type is known, requires a value of
 * that type), and every segment a rule uses exists. Prerequisite cycles are `findPrerequisiteCycle`'s
 * job: they are a different error (`prerequisite_cycle`, 409).
 *
 * @returns the issues (empty when the flag's references are sound), reported as `validation_error`.
 */
export function checkFlagReferences(flag: FlagDefinition, world: FlagWorld): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  flag.prerequisites.forEach(({ flagKey, value }, index) => {
    const target = world.flags.get(flagKey);
    if (target === undefined) {
      issues.push({ path: `prerequisites[${index}].flagKey`, message: `flag "${flagKey}" does not exist` });
    } else if (target.state === 'archived') {
      issues.push({ path: `prerequisites[${index}].flagKey`, message: `flag "${flagKey}" is archived` });
    } else if (target.type !== undefined) {
      const typeError = valueTypeError(value, target.type, `"${flagKey}" is a ${target.type} flag`);
      if (typeError !== null) issues.push({ path: `prerequisites[${index}].value`, message: typeError });
    }
  });
  flag.rules.forEach((rule, ruleIndex) => {
    rule.conditions.forEach((condition, conditionIndex) => {
      if ('segment' in condition && !world.segments.has(condition.segment)) {
        issues.push({ path: `rules[${ruleIndex}].conditions[${conditionIndex}].segment`, message: `segment "${condition.segment}" does not exist` });
      }
    });
  });
  return issues;
}
