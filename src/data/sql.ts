import { createSqlTag } from 'slonik';
import { z } from 'zod';

/** What a statement returns when we read none of it: `sql.typeAlias('void')`, or `sql.prepared(name, noRowsRead)`. */
export const noRowsRead = z.object({}).passthrough();

/** The data layer's sql tag: slonik's, with an alias for statements that return no rows we read. */
export const sql = createSqlTag({
  typeAliases: {
    void: noRowsRead,
  },
});

/** An instant given in epoch milliseconds, as a `timestamptz` value. */
export function timestamp(epochMs: number) {
  return sql.fragment`to_timestamp(${epochMs}::float8 / 1000)`;
}

export function timestampOrNull(epochMs: number | null | undefined) {
  return epochMs === undefined || epochMs === null ? null : timestamp(epochMs);
}

/** A JSON value for a `jsonb` column; SQL NULL for none. */
export function jsonbOrNull(value: unknown) {
  return value === undefined || value === null ? null : sql.jsonb(value as object);
}
