-- API processes poll for the newest change that affects evaluation (flags, segments, killswitches);
-- this partial index answers "max id of those" and "those after id N" without scanning the outbox.
CREATE INDEX IF NOT EXISTS outbox_flag_set_changes_idx ON outbox (id)
  WHERE type LIKE 'flag.%' OR type LIKE 'segment.%' OR type LIKE 'killswitch.%';
