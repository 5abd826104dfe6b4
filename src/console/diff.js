// Diffs the console shows before a change is saved, in the shape the audit log and change requests
// use (src/data/json-diff.ts), and the JSON merge patch that carries the change.

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The leaves that differ: objects key by key, arrays item by item when their lengths match
 * (otherwise the whole array is one change). `[{ path, before?, after? }]`.
 */
export function diffJson(before, after, path = '') {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => diffJson(before[key], after[key], path ? `${path}.${key}` : key));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((item, index) => diffJson(item, after[index], `${path}[${index}]`));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const change = { path: path || '$' };
  if (before !== undefined) change.before = before;
  if (after !== undefined) change.after = after;
  return [change];
}

/** Key order does not make a change. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (isObject(value)) return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]));
  return value;
}

function same(a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** The top-level merge patch (RFC 7386) from `before` to `after`: changed fields, and null for removed ones. */
export function mergePatch(before, after) {
  const patch = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (!(key in after)) patch[key] = null;
    else if (!same(before[key], after[key])) patch[key] = after[key];
  }
  return patch;
}

/** `document` with `patch` applied (null removes), as the API applies it. */
export function applyPatch(document, patch) {
  const result = { ...document };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = value;
  }
  return result;
}
