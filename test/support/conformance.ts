import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CONFORMANCE_DIR = new URL('../../conformance/', import.meta.url).pathname;

export interface EvaluationCase {
  name: string;
  flagKey: string;
  context: Record<string, unknown>;
  expected: Record<string, unknown> | null;
}

export interface EvaluationFile {
  file: string;
  segments: Record<string, unknown>[];
  flags: (Record<string, unknown> & { key: string })[];
  archived?: string[];
  killswitches?: string[];
  cases: EvaluationCase[];
}

/** Every `evaluation` conformance file, for implementations other than the engine (API, SDK). */
export function evaluationFiles(): EvaluationFile[] {
  return readdirSync(CONFORMANCE_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({ file: name, ...(JSON.parse(readFileSync(join(CONFORMANCE_DIR, name), 'utf8')) as { kind: string } & Omit<EvaluationFile, 'file'>) }))
    .filter((file) => (file as { kind?: string }).kind === 'evaluation');
}
