// A flag or a segment in plain words, following the contract's evaluation order. Pure functions
// (no DOM): each sentence is a list of parts, a string, `{ value }` (a flag value, shown as code) or
// `{ link, text }`, which the page renders and a unit test reads as text.

/** A value as people read it in a sentence: JSON, so "on" and true look different. */
export function showValue(value) {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

const OPERATOR_WORDS = {
  equals: ['is', 'is not'],
  in: ['is one of', 'is none of'],
  regex: ['matches the pattern', 'does not match the pattern'],
  starts_with: ['starts with', 'does not start with'],
  ends_with: ['ends with', 'does not end with'],
  contains: ['contains', 'does not contain'],
  semver_eq: ['is version', 'is not version'],
  semver_lt: ['is a version below', 'is not a version below'],
  semver_lte: ['is at most version', 'is not at most version'],
  semver_gt: ['is a version above', 'is not a version above'],
  semver_gte: ['is at least version', 'is not at least version'],
  before: ['is before', 'is not before'],
  after: ['is after', 'is not after'],
  exists: ['is present', 'is missing'],
};

function listOf(values) {
  return values.map(showValue).join(', ');
}

function rangeWords(range, negate) {
  const hasMin = range.min !== undefined;
  const hasMax = range.max !== undefined;
  const words = hasMin && hasMax
    ? `a number from ${range.min} up to (not including) ${range.max}`
    : hasMin ? `a number of at least ${range.min}` : `a number below ${range.max}`;
  return `${negate ? 'is not' : 'is'} ${words}`;
}

/** One condition of a rule or a segment, as parts. */
export function conditionParts(condition) {
  if ('segment' in condition) {
    return [`the context is ${condition.negate ? 'not ' : ''}in segment `, { link: `#/segments/${encodeURIComponent(condition.segment)}`, text: condition.segment }];
  }
  const negate = condition.negate === true;
  if (condition.op === 'range') return [`${condition.attribute} ${rangeWords(condition.value, negate)}`];
  const [positive, negative] = OPERATOR_WORDS[condition.op] ?? [condition.op, `not ${condition.op}`];
  const verb = negate ? negative : positive;
  if (condition.op === 'exists') return [`${condition.attribute} ${verb}`];
  const value = Array.isArray(condition.value)
    ? (condition.op === 'in' ? listOf(condition.value) : `one of ${listOf(condition.value)}`)
    : showValue(condition.value);
  return [`${condition.attribute} ${verb} ${value}`];
}

/** Conditions joined by "and" (every one must hold). */
export function conditionsParts(conditions) {
  if (conditions.length === 0) return ['always (no conditions)'];
  return conditions.flatMap((condition, index) => [...(index === 0 ? [] : [' and ']), ...conditionParts(condition)]);
}

function identityWords(bucketBy) {
  const attribute = bucketBy ?? 'userId';
  return attribute === 'userId' ? 'userId (else targetingKey, else projectId)' : `${attribute} (else projectId)`;
}

function variantParts(flag, name) {
  const value = flag.variants?.[name];
  return [`variant ${name} `, { value }];
}

function distributionParts(flag, distribution, bucketBy) {
  return [
    `split by ${identityWords(bucketBy)}: `,
    ...distribution.flatMap((share, index) => [...(index === 0 ? [] : ['; ']), `${share.weight}% get `, ...variantParts(flag, share.variant)]),
  ];
}

function serveParts(flag, serve) {
  if ('value' in serve) return ['serve ', { value: serve.value }];
  if ('variant' in serve) return ['serve ', ...variantParts(flag, serve.variant)];
  return [...distributionParts(flag, serve.distribution, serve.bucketBy), ' (contexts without an identity go on to the next step)'];
}

/** What an "on" answer is: onValue, which boolean flags default to true. */
function onValueOf(flag) {
  return flag.onValue ?? (flag.type === 'boolean' ? true : undefined);
}

function offValueOf(flag) {
  return flag.offValue ?? flag.defaultValue;
}

/**
 * The steps of a flag's evaluation, in the order the engine takes them: each `{ title, parts }`.
 * The first step that applies decides the answer.
 */
export function evaluationSteps(flag) {
  const off = { value: offValueOf(flag) };
  const steps = [];
  if (flag.enabled === false) {
    steps.push({ title: 'Switched off', parts: ['The flag is disabled: everyone gets the off value ', off, '. Nothing below applies until it is enabled.'] });
  } else {
    steps.push({ title: 'Switched on', parts: ['The flag is enabled.'] });
  }
  if (flag.killswitch) {
    steps.push({ title: 'Killswitch', parts: ['If killswitch category ', { link: '#/killswitches', text: flag.killswitch }, ' is engaged, everyone gets the off value ', off, '.'] });
  }
  for (const prerequisite of flag.prerequisites ?? []) {
    steps.push({
      title: 'Prerequisite',
      parts: ['Flag ', { link: `#/flags/${encodeURIComponent(prerequisite.flagKey)}`, text: prerequisite.flagKey }, ' must answer ', { value: prerequisite.value }, ' for the same context; otherwise the off value ', off, ' (prerequisite failed).'],
    });
  }
  if ((flag.denylist ?? []).length) {
    steps.push({ title: 'Denylist', parts: [`These identities get the off value `, off, `: ${flag.denylist.join(', ')}.`] });
  }
  if ((flag.allowlist ?? []).length) {
    steps.push({ title: 'Allowlist', parts: [`These identities get the on value `, { value: onValueOf(flag) }, `: ${flag.allowlist.join(', ')}.`] });
  }
  (flag.rules ?? []).forEach((rule, index) => {
    steps.push({ title: `Rule ${index + 1}: ${rule.id}`, parts: ['If ', ...conditionsParts(rule.conditions), ', ', ...serveParts(flag, rule.serve), '.'] });
  });
  if (flag.rollout && 'percentage' in flag.rollout) {
    steps.push({
      title: 'Percentage rollout',
      parts: [`${flag.rollout.percentage}% of identities, by ${identityWords(flag.rollout.bucketBy)}, get the on value `, { value: onValueOf(flag) }, '; the others get the default value ', { value: flag.defaultValue }, '. A context without an identity skips this step.'],
    });
  } else if (flag.rollout) {
    steps.push({ title: 'Distribution', parts: ['Everyone else is ', ...distributionParts(flag, flag.rollout.distribution, flag.rollout.bucketBy), '. A context without an identity skips this step.'] });
  }
  steps.push({ title: 'Default', parts: ['Everyone else gets the default value ', { value: flag.defaultValue }, '.'] });
  return steps;
}

/** Parts as plain text: what a screen reader or a test reads. */
export function partsText(parts) {
  return parts.map((part) => (typeof part === 'string' ? part : 'value' in part ? showValue(part.value) : part.text)).join('');
}

/** Why a flag is stale (`stale` of GET /v1/flags?stale=true, docs/lifecycle.md), as parts. */
export function staleParts(stale) {
  const day = (iso) => iso.slice(0, 10);
  if (stale.reason === 'not_evaluated') return stale.lastEvaluatedAt ? [`not evaluated since ${day(stale.lastEvaluatedAt)}`] : [`never evaluated since it was created on ${day(stale.since)}`];
  if (stale.reason === 'single_value') return ['served ', { value: stale.value }, ` to everyone, unchanged since ${day(stale.since)}`];
  if (stale.reason === 'past_lifetime') return [`past its expected lifetime (created on ${day(stale.since)})`];
  return [stale.reason];
}
