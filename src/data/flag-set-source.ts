import type { Flag, Segment } from '@flagship/engine';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { EXPOSURE_EVENT_TYPE } from '../domain/event-types.ts';
import { getFlags, listActiveFlags } from './flags.ts';
import type { DatabasePool } from './pool.ts';
import { getSegment, listAllSegments, segmentDefinition } from './segments.ts';
import { sql } from './sql.ts';

/** Which change notices can change an evaluation: AFFECTS_EVALUATION in JavaScript. */
export function affectsEvaluation(eventType: string): boolean {
  return /^(flag|segment|killswitch)\./.test(eventType) && eventType !== EXPOSURE_EVENT_TYPE;
}

/**
 * Outbox rows that change what an evaluation answers; the same predicate as the partial index
 * (sql/006), written out so the planner can use it. `flag.exposure` is analytics from the SDKs, not
 * a change: it must not move the version.
 */
export const AFFECTS_EVALUATION = sql.fragment`((type LIKE 'flag.%' OR type LIKE 'segment.%' OR type LIKE 'killswitch.%') AND type <> 'flag.exposure')`;

export interface FlagSetState {
  /** The outbox id of the newest change included: the flag set's version. */
  version: number;
  flags: Flag[];
  segments: Segment[];
  killswitches: Set<string>;
}

export interface FlagSetChanges {
  version: number;
  /** Changed flags by key; archived ones are included (they leave the set). */
  flags: Flag[];
  /** Changed segments; `null` for a deleted one. */
  segments: Map<string, Segment | null>;
  /** The engaged categories, when a killswitch changed. */
  killswitches: Set<string> | null;
  /** Keys of flags purged meanwhile: their versions start again at 1 if the key is created again. */
  purged: string[];
}

const idRow = z.object({ id: z.number().nullable() });
const changesRow = z.object({
  newest: z.number(),
  changed: z.array(z.object({ kind: z.string(), entity_key: z.string(), version: z.number().nullable(), purged: z.boolean() })),
});

async function engagedKillswitches(db: CommonQueryMethods): Promise<Set<string>> {
  const categories = await db.anyFirst(sql.type(z.object({ category: z.string() }))`SELECT category FROM killswitches WHERE engaged`);
  return new Set(categories);
}

/** Everything, read in one repeatable-read transaction so the version and the rows agree. */
export async function loadFlagSetState(db: DatabasePool): Promise<FlagSetState> {
  return db.transaction(async (tx) => {
    await tx.query(sql.typeAlias('void')`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    const version = (await tx.oneFirst(sql.prepared('flag_set_version', idRow)`SELECT max(id) AS id FROM outbox WHERE ${AFFECTS_EVALUATION}`)) ?? 0;
    const flags = await listActiveFlags(tx);
    const segments = await listAllSegments(tx);
    const killswitches = await engagedKillswitches(tx);
    return { version, flags, segments, killswitches };
  });
}

/** The newest change that affects evaluation; what the periodic check compares with. */
export async function currentFlagSetVersion(db: DatabasePool): Promise<number> {
  return (await db.oneFirst(sql.prepared('flag_set_version', idRow)`SELECT max(id) AS id FROM outbox WHERE ${AFFECTS_EVALUATION}`)) ?? 0;
}

/**
 * What changed after `version`: the current rows of every flag and segment named by a later event,
 * the flags in one query, leaving out those `heldFlagVersion` already holds at the newest version
 * their events name (a process's own writes, applied when it wrote them).
 * Because event ids are drawn under the append lock, held until the transaction that draws them
 * commits, the committed outbox is always a prefix in id order, so reading the newest id and the
 * rows up to it never skips a change. (A flag's row commits a moment before its event is sequenced:
 * a catch-up may read the newer row early, and the event, when it comes, finds it applied.)
 */
export async function flagSetChangesSince(
  db: DatabasePool,
  version: number,
  options: { limit?: number; heldFlagVersion?: (key: string) => number | undefined } = {},
): Promise<FlagSetChanges | 'too_many'> {
  const limit = options.limit ?? 5_000;
  // One statement, so one snapshot: the newest id and the changes up to it agree. With each key,
  // the newest version its events name, when every one of them names one: a flag held at that
  // version already (this process's own writes) need not be read again.
  const { newest, changed } = await db.one(sql.prepared('flag_set_changes', changesRow)`
    WITH newest AS (SELECT coalesce(max(id), 0) AS id FROM outbox WHERE ${AFFECTS_EVALUATION})
    SELECT (SELECT id FROM newest) AS newest, coalesce(json_agg(changed), '[]') AS changed
    FROM (
      SELECT split_part(type, '.', 1) AS kind, entity_key,
             CASE WHEN bool_and(jsonb_typeof(payload->'version') = 'number') THEN max(CASE WHEN jsonb_typeof(payload->'version') = 'number' THEN (payload->>'version')::numeric END) END::integer AS version,
             bool_or(type = 'flag.purged') AS purged
      FROM outbox
      WHERE id > ${version} AND id <= (SELECT id FROM newest) AND ${AFFECTS_EVALUATION} AND entity_key IS NOT NULL
      GROUP BY 1, 2
      LIMIT ${limit + 1}
    ) AS changed`);
  if (newest <= version) return { version, flags: [], segments: new Map(), killswitches: null, purged: [] };
  if (changed.length > limit) return 'too_many';
  const purged = changed.filter((row) => row.kind === 'flag' && row.purged).map((row) => row.entity_key);
  const held = options.heldFlagVersion;
  const flagKeys = changed
    .filter((row) => row.kind === 'flag')
    .filter((row) => row.purged || row.version === null || held === undefined || (held(row.entity_key) ?? 0) < row.version)
    .map((row) => row.entity_key);
  const flags = flagKeys.length === 0 ? [] : await getFlags(db, flagKeys);
  const segments = new Map<string, Segment | null>();
  let killswitchChanged = false;
  for (const { kind, entity_key: key } of changed) {
    if (kind === 'segment') {
      const segment = await getSegment(db, key);
      segments.set(key, segment ? segmentDefinition(segment) : null);
    } else if (kind === 'killswitch') {
      killswitchChanged = true;
    }
  }
  return { version: newest, flags, segments, killswitches: killswitchChanged ? await engagedKillswitches(db) : null, purged };
}
