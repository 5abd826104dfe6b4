import type { EvaluationContext } from './types.ts';

/** Reads one attribute from a context; `undefined` when it is not there. */
export type AttributeReader = (context: EvaluationContext) => unknown;

// A context is a plain object parsed from JSON, so `context.constructor` would find Object's own
// property through the prototype. Names that exist on Object.prototype are read as own properties
// only; every other name takes the plain (fast) property load.
const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

function readOwn(value: object, name: string): unknown {
  return Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}

/**
 * Compiles a dotted attribute path (`country`, `project.tier`) into a reader. Dots walk into nested
 * plain objects; a step into anything else (a string, an array, null) reads as missing. A context
 * key that itself contains a dot cannot be addressed.
 */
export function compileAttributeReader(path: string): AttributeReader {
  const parts = path.split('.');
  if (parts.length === 1) {
    const name = path;
    if (PROTOTYPE_NAMES.has(name)) return (context) => readOwn(context, name);
    return (context) => context[name];
  }
  return (context) => {
    let value: unknown = context;
    for (const part of parts) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
      value = PROTOTYPE_NAMES.has(part) ? readOwn(value, part) : (value as Record<string, unknown>)[part];
    }
    return value;
  };
}

/**
 * The property name when a path is read by a plain property load (one step, not a name found on
 * Object.prototype), so hot closures can do `context[name]` without calling a reader; else null.
 */
export function plainPropertyName(path: string): string | null {
  return path.includes('.') || PROTOTYPE_NAMES.has(path) ? null : path;
}
