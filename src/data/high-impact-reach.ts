import type { CommonQueryMethods } from 'slonik';
import type { Flag } from '@flagship/engine';
import { FLAG_COLUMNS, flagRow, toFlag } from './flags.ts';
import { sql } from './sql.ts';

/**
 * The active high-impact flags whose answers depend on any of `flagKeys`: those flags themselves,
 * and every flag that has one of them as a prerequisite, directly or further up the chain. A change
 * to any of `flagKeys` may change what each of them serves, so it needs the approval they need.
 * Read inside the write transaction, under the write lock, so a dependency added a moment ago is seen.
 */
export async function highImpactFlagsReachedFrom(db: CommonQueryMethods, flagKeys: readonly string[]): Promise<Flag[]> {
  if (flagKeys.length === 0) return [];
  const rows = await db.any(sql.prepared('high_impact_reach', flagRow)`
    WITH RECURSIVE reached(key) AS (
      SELECT unnest(${sql.array([...flagKeys], 'text')})
      UNION
      SELECT dependent.key FROM flags dependent JOIN reached ON dependent.definition->'prerequisites' @> jsonb_build_array(jsonb_build_object('flagKey', reached.key))
    )
    SELECT ${FLAG_COLUMNS} FROM flags WHERE key IN (SELECT key FROM reached) AND high_impact AND state = 'active' ORDER BY key`);
  return rows.map(toFlag);
}

