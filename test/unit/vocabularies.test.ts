// Each closed vocabulary is defined once in TypeScript; the database keeps its own copy as CHECK
// constraints (a migration cannot import TypeScript). This holds the two in step: the last
// constraint the migrations put on each column allows exactly the TypeScript list.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { CHANGE_KINDS, CHANGE_REQUEST_STATUSES } from '../../src/domain/change-request.ts';
import { ROLLOUT_STATES } from '../../src/domain/rollout-state.ts';
import { SCHEDULED_CHANGE_STATUSES } from '../../src/data/scheduled-changes.ts';

const SQL = new URL('../../sql/', import.meta.url).pathname;

/** `table.column` → the values of the last `CHECK (column IN (…))` the migrations declare for it, in migration order. */
function checkedValues(): Map<string, string[]> {
  const checks = new Map<string, string[]>();
  const values = (list: string) => [...list.matchAll(/'([^']*)'/g)].map((match) => match[1]!);
  for (const file of readdirSync(SQL).filter((name) => name.endsWith('.sql')).sort()) {
    let table = '';
    for (const line of readFileSync(join(SQL, file), 'utf8').split('\n')) {
      table = /CREATE TABLE (?:IF NOT EXISTS )?(\w+)/.exec(line)?.[1] ?? table;
      const column = /^\s*(\w+)\s+text\b.*CHECK \((\w+) IN \(([^)]*)\)\)/.exec(line);
      if (column) checks.set(`${table}.${column[2]}`, values(column[3]!));
      const altered = /ALTER TABLE (\w+) ADD CONSTRAINT \w+ CHECK \((\w+) IN \(([^)]*)\)\)/.exec(line);
      if (altered) checks.set(`${altered[1]}.${altered[2]}`, values(altered[3]!));
    }
  }
  return checks;
}

describe('closed vocabularies', () => {
  const checks = checkedValues();

  it.each([
    ['rollouts.state', ROLLOUT_STATES],
    ['change_requests.kind', CHANGE_KINDS],
    ['change_requests.status', CHANGE_REQUEST_STATUSES],
    ['scheduled_changes.status', SCHEDULED_CHANGE_STATUSES],
  ] as const)('%s allows exactly the TypeScript list', (column, vocabulary) => {
    expect(checks.get(column)?.toSorted()).toEqual([...vocabulary].sort());
  });
});
