import type { Flag, FlagDefinition } from '@flagship/engine';

/** A stored flag's definition: what a client could send back to recreate it. */
export function definitionOf(flag: Flag): FlagDefinition {
  const { state: _state, version: _version, createdAt: _createdAt, updatedAt: _updatedAt, createdBy: _createdBy, updatedBy: _updatedBy, ...definition } = flag;
  return definition;
}
