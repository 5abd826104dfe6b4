-- Writes to different flags run in parallel (docs/write-path.md): the one lock every write held for
-- its whole duration now guards only the appends. The audit chain is linked in id order, so an
-- entry's id must be drawn under the append lock (7233003), which appendAudit takes before the row is
-- built; the trigger takes it too (a no-op when held) and refuses an entry numbered before one that
-- is already in the log, which only an insert that skipped the lock could produce.
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  last_id bigint;
  last_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(7233003);
  SELECT id, hash INTO last_id, last_hash FROM audit_log ORDER BY id DESC LIMIT 1;
  IF last_id > NEW.id THEN
    RAISE EXCEPTION 'audit entry % was numbered before entry % was appended: take the append lock before inserting', NEW.id, last_id
      USING ERRCODE = 'serialization_failure';
  END IF;
  NEW.prev_hash := coalesce(last_hash, 'genesis');
  NEW.hash := audit_entry_hash(NEW);
  RETURN NEW;
END
$$;
