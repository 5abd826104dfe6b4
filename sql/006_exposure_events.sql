-- SDKs append `flag.exposure` events (analytics, one per batch) to the outbox. They share the
-- `flag.` prefix but change nothing an evaluation answers, so the flag-set version (the newest
-- change that does) must skip them: the partial index gets the same predicate as the queries in
-- src/data/flag-set-source.ts, so "max id of the changes" stays an index-only lookup however many
-- exposures the outbox holds.
DROP INDEX IF EXISTS outbox_flag_set_changes_idx;
CREATE INDEX IF NOT EXISTS outbox_evaluation_changes_idx ON outbox (id)
  WHERE (type LIKE 'flag.%' OR type LIKE 'segment.%' OR type LIKE 'killswitch.%') AND type <> 'flag.exposure';
