import { operatorFor } from './operators.ts';
import type { Condition, ValidationIssue } from './types.ts';

/**
 * The semantic checks of conditions that the schema cannot express: patterns that compile under
 * RE2, versions and dates that parse, ranges that are not empty. The operator table owns each check.
 */
export function checkConditions(conditions: readonly Condition[], path: string, issues: ValidationIssue[]): void {
  conditions.forEach((condition, index) => {
    if ('segment' in condition) return;
    const message = operatorFor(condition.op).check(condition.value);
    if (message !== null) issues.push({ path: `${path}[${index}].value`, message });
  });
}
