-- Clean-up (docs/lifecycle.md#clean-up): old audit content stored compressed, and the indexes the
-- daily retention run needs to find finished rollout plans, decided change requests and finished
-- scheduled changes, and expired evaluation counts, without walking the tables.

-- An entry's before, after and diff are a few hundred bytes to a few kB of JSON: below the ~2 kB
-- past which PostgreSQL compresses a row at all, and too small to compress well alone. Entries older
-- than FLAGS_AUDIT_COMPRESS_AFTER_DAYS have theirs moved, a block of consecutive entries at a time,
-- into one jsonb object here, keyed by entry id: one large value, which PostgreSQL compresses as a
-- whole (lz4 where the server is built with it), across entries that repeat the same flag shapes.
-- The entry keeps everything else (id, time, actor, action, hashes) and points at its block.
CREATE TABLE IF NOT EXISTS audit_archive (
  first_id bigint PRIMARY KEY,
  last_id  bigint NOT NULL,
  -- { "<entry id>": [before, after, diff], … }
  content  jsonb NOT NULL
);
DO $$
BEGIN
  ALTER TABLE audit_archive ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  -- A server built without lz4 keeps its default (pglz).
  NULL;
END
$$;

ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS archived_in bigint REFERENCES audit_archive (first_id);
ALTER TABLE audit_log ALTER COLUMN diff DROP NOT NULL;
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_content_kept;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_content_kept CHECK (diff IS NOT NULL OR archived_in IS NOT NULL);

-- An entry as it was written: its content put back from its block. What verify hashes and what the
-- audit API returns, so a compressed entry hashes to the bytes it hashed before. An archived `null`
-- before/after is the SQL NULL it was (both hash alike in either format). A block that no longer
-- holds the entry gives NULL content, which hashes to something else: `content_changed`.
CREATE OR REPLACE FUNCTION audit_restored(entry audit_log, archived jsonb) RETURNS audit_log
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF entry.archived_in IS NULL THEN
    RETURN entry;
  END IF;
  entry.before := nullif(archived -> 0, 'null'::jsonb);
  entry.after := nullif(archived -> 1, 'null'::jsonb);
  entry.diff := archived -> 2;
  entry.archived_in := NULL;
  RETURN entry;
END
$$;

-- Every entry with its content, compressed or not: what readers of the log select from. The
-- entry's own columns come straight from audit_log, so filters on them use its indexes; the content
-- of a compressed one is read from its block once per entry.
CREATE OR REPLACE VIEW audit_entries AS
  SELECT a.id, a.at, a.actor, a.actor_name, a.token_id, a.approver, a.action, a.entity_type, a.entity_key, a.version,
         restored.before, restored.after, restored.diff, a.prev_hash, a.hash, a.format, a.archived_in
  FROM audit_log a
  CROSS JOIN LATERAL audit_restored(a, (SELECT b.content -> a.id::text FROM audit_archive b WHERE b.first_id = a.archived_in)) restored;

-- A new entry is written whole; only compression moves content out (below). Fires before the
-- chain trigger (triggers fire in name order), so the entry is hashed as it is stored.
CREATE OR REPLACE FUNCTION audit_log_arrives_whole() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.archived_in := NULL;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS audit_log_arrives_whole ON audit_log;
CREATE TRIGGER audit_log_arrives_whole BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_arrives_whole();

-- The log stays append-only with one exception: moving an entry's content, unchanged, into its
-- block. The trigger checks it, whoever updates (the owner included): nothing but the content and
-- the block may change, and the entry put back from the block must hash exactly as it did before.
-- An entry edited before it was compressed stays edited (verify still names it).
CREATE OR REPLACE FUNCTION audit_log_archive_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.archived_in IS NULL AND NEW.archived_in IS NOT NULL
     AND NEW.before IS NULL AND NEW.after IS NULL AND NEW.diff IS NULL
     AND (NEW.id, NEW.at, NEW.actor, NEW.actor_name, NEW.token_id, NEW.approver, NEW.action, NEW.entity_type, NEW.entity_key, NEW.version, NEW.format, NEW.prev_hash, NEW.hash)
         IS NOT DISTINCT FROM
         (OLD.id, OLD.at, OLD.actor, OLD.actor_name, OLD.token_id, OLD.approver, OLD.action, OLD.entity_type, OLD.entity_key, OLD.version, OLD.format, OLD.prev_hash, OLD.hash)
     AND audit_entry_hash(audit_restored(NEW, (SELECT b.content -> NEW.id::text FROM audit_archive b WHERE b.first_id = NEW.archived_in)))
         IS NOT DISTINCT FROM audit_entry_hash(OLD) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % refused (only moving an entry''s content, unchanged, into audit_archive is allowed)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
-- The same trigger as before (operators' runbooks name it), with the one exception.
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_archive_only();

-- Blocks are append-only like the log: rewriting one is caught by verify (the entries it holds no
-- longer hash to their stored hashes), but nobody should be able to try without the owner's rights.
DROP TRIGGER IF EXISTS audit_archive_append_only ON audit_archive;
CREATE TRIGGER audit_archive_append_only BEFORE UPDATE OR DELETE ON audit_archive FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
DROP TRIGGER IF EXISTS audit_archive_no_truncate ON audit_archive;
CREATE TRIGGER audit_archive_no_truncate BEFORE TRUNCATE ON audit_archive FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_archive FROM flags_application;

-- Compresses up to max_entries of the oldest entries written before `cutoff` into one new block, in
-- the caller's transaction. The application's role may not update the log, so it calls this, which
-- runs with the owner's rights and can do nothing else; the trigger above checks every entry moved.
-- Entries are compressed in id order, so the next block starts after the newest block's last entry.
CREATE OR REPLACE FUNCTION audit_compress(cutoff timestamptz, max_entries integer)
RETURNS TABLE (entries integer, first_id bigint, last_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  compressed_through bigint;
  block_first bigint;
  block_last bigint;
  moved integer;
BEGIN
  -- One compression at a time: two would pick the same entries.
  PERFORM pg_advisory_xact_lock(7233019);
  SELECT coalesce(max(b.last_id), 0) INTO compressed_through FROM audit_archive b;
  SELECT min(picked.id), max(picked.id) INTO block_first, block_last
    FROM (SELECT a.id FROM audit_log a WHERE a.id > compressed_through AND a.at < cutoff ORDER BY a.id LIMIT greatest(max_entries, 1)) picked;
  IF block_first IS NULL THEN
    RETURN QUERY SELECT 0, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;
  INSERT INTO audit_archive (first_id, last_id, content)
    SELECT block_first, block_last, jsonb_object_agg(a.id::text, jsonb_build_array(a.before, a.after, a.diff))
    FROM audit_log a WHERE a.id BETWEEN block_first AND block_last AND a.archived_in IS NULL;
  UPDATE audit_log a SET before = NULL, after = NULL, diff = NULL, archived_in = block_first
    WHERE a.id BETWEEN block_first AND block_last AND a.archived_in IS NULL;
  GET DIAGNOSTICS moved = ROW_COUNT;
  RETURN QUERY SELECT moved, block_first, block_last;
END
$$;
REVOKE ALL ON FUNCTION audit_compress(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_compress(timestamptz, integer) TO flags_application;

-- Clean-up finds what finished long ago through these (retention runs once a day).
CREATE INDEX IF NOT EXISTS rollouts_finished_idx ON rollouts (finished_at) WHERE state IN ('completed', 'cancelled', 'rolled_back', 'failed');
CREATE INDEX IF NOT EXISTS change_requests_finished_idx ON change_requests (finished_at) WHERE status IN ('applied', 'rejected', 'expired', 'cancelled', 'failed');
CREATE INDEX IF NOT EXISTS scheduled_changes_finished_idx ON scheduled_changes (finished_at) WHERE status IN ('applied', 'failed', 'cancelled');

-- Every insights flush updates the current hour's count of each flag it counted (and, at most once
-- a minute, its usage row): room left on each page lets PostgreSQL write the new row version beside
-- the old one without touching the indexes (a HOT update). Applies to pages written from now on.
ALTER TABLE flag_evaluation_counts SET (fillfactor = 70);
ALTER TABLE flag_usage SET (fillfactor = 70);
