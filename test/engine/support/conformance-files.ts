import { readdirSync, readFileSync } from 'node:fs';
import type { EvaluationContext, EvaluationResult, Prerequisite } from '@flagship/engine';

/** The shapes of the files in conformance/ (documented in conformance/README.md). */

export interface EvaluationCase {
  name: string;
  flagKey: string;
  context: EvaluationContext;
  /** null: the flag is not found (404 not_found over HTTP). */
  expected: EvaluationResult | null;
  bucket?: { salt: string; identity: string; value: number };
}

export interface EvaluationFile {
  kind: 'evaluation';
  description: string;
  segments: unknown[];
  flags: unknown[];
  archived: string[];
  killswitches: string[];
  cases: EvaluationCase[];
}

export interface HashingFile {
  kind: 'hashing';
  description: string;
  anchors: { text: string; murmur3: number; hex: string }[];
  cases: { note: string; salt: string; identity: string; utf8: string; murmur3: number; bucket: number }[];
}

export interface ValidationFile {
  kind: 'validation';
  description: string;
  cases: { name: string; kind: 'flag' | 'segment'; input: unknown; valid: boolean; issuePaths?: string[]; normalized?: unknown }[];
}

export interface CyclesFile {
  kind: 'prerequisite-cycles';
  description: string;
  flags: { key: string; prerequisites: Prerequisite[] }[];
  cases: { name: string; changed: { key: string; prerequisites: Prerequisite[] }; cycle: string[] | null }[];
}

export type ConformanceFile = EvaluationFile | HashingFile | ValidationFile | CyclesFile;

export const CONFORMANCE_DIR = new URL('../../../conformance/', import.meta.url);

export function loadConformanceFiles(): { file: string; doc: ConformanceFile }[] {
  return readdirSync(CONFORMANCE_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((file) => ({ file, doc: JSON.parse(readFileSync(new URL(file, CONFORMANCE_DIR), 'utf8')) as ConformanceFile }));
}
