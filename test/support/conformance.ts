import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from '../../src/data/sql.ts';
import { appendEvent, inWriteTransaction } from '../../src/data/write-transaction.ts';
import type { TestApi } from './api.ts';
import type { FlagValue } from '@flagship/sdk';

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

/**
 * Loads every evaluation file into a running API the way a user would: segments and flags through
 * the API, archives through the API, killswitch categories engaged through the API. The one state
 * the API refuses to create — a prerequisite archived under a flag that needs it — is forced
 * underneath, because the vectors pin what evaluation does if it exists anyway (restored from a
 * backup, say). Resolves once the API's flag set has caught up.
 */
/** A fallback of the served value's type, so a found flag never answers TYPE_MISMATCH. */
export function fallbackFor(expected: Record<string, unknown> | null): FlagValue {
  const value = expected?.value;
  if (typeof value === 'boolean') return !value;
  if (typeof value === 'number') return -1;
  if (typeof value === 'string') return '<fallback>';
  if (Array.isArray(value)) return ['<fallback>'];
  return { fallback: true };
}

export async function loadConformanceIntoApi(api: TestApi, files: readonly EvaluationFile[]): Promise<void> {
  for (const file of files) {
    for (const segment of file.segments) {
      const created = await api.request('POST', '/v1/segments', { body: segment });
      if (created.status !== 201) throw new Error(`${file.file}: segment ${JSON.stringify(segment)} refused: ${JSON.stringify(created.body)}`);
    }
    for (const flag of file.flags) {
      const created = await api.request('POST', '/v1/flags', { body: flag });
      if (created.status !== 201) throw new Error(`${file.file}: flag ${flag.key} refused: ${JSON.stringify(created.body)}`);
    }
  }
  for (const file of files) {
    for (const key of file.archived ?? []) {
      const archived = await api.request('POST', `/v1/flags/${key}/archive`);
      if (archived.status === 200) continue;
      if (!archived.body.error?.details?.dependents) throw new Error(`${file.file}: archiving ${key} failed: ${JSON.stringify(archived.body)}`);
      await inWriteTransaction(api.db.pool, async (tx) => {
        await tx.query(sql.typeAlias('void')`UPDATE flags SET state = 'archived', version = version + 1 WHERE key = ${key}`);
        await appendEvent(tx, { type: 'flag.archived', entityKey: key, payload: {} });
      });
    }
    for (const category of file.killswitches ?? []) {
      const engaged = await api.request('POST', `/v1/killswitches/${category}/engage`, { body: { reason: 'conformance' } });
      if (engaged.status !== 200) throw new Error(`${file.file}: engaging ${category} failed: ${JSON.stringify(engaged.body)}`);
    }
  }
  await api.deps.flagSet.refresh();
}
