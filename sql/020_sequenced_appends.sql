-- Writes no longer number their audit entries and outbox events themselves (docs/write-path.md,
-- "Appends sequenced after commit"). A write inserts them here, unnumbered and without taking any
-- global lock, and commits beside other writes; right after its commit the sequencer moves every
-- committed row, in the order of these tables' ids, into audit_log and outbox under the append lock,
-- one transaction for a whole batch of writes. Ids in audit_log and outbox stay in commit order, the
-- audit chain stays one chain, and every reader keeps following ids as before.
--
-- An entry waits here as the JSON text its writer sealed with a key derived from the audit key (an
-- HMAC) together with the id of the transaction that inserts it: the sequencer checks the seal before
-- it chains and signs the entry, so a row put here by anyone without the key (the database role
-- included), or a copy of a real row, never becomes a signed entry.
CREATE TABLE IF NOT EXISTS audit_pending (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Checked as the write inserts it, so content the log cannot hold fails that write, not the sequencer.
  content   text NOT NULL CHECK (content::jsonb IS NOT NULL),
  key_id    text NOT NULL,
  seal      text NOT NULL,
  -- The inserting transaction's id, set by the trigger below whatever the insert says.
  xact      bigint NOT NULL DEFAULT 0,
  at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE FUNCTION audit_pending_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.xact := txid_current();
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS audit_pending_stamp ON audit_pending;
CREATE TRIGGER audit_pending_stamp BEFORE INSERT ON audit_pending FOR EACH ROW EXECUTE FUNCTION audit_pending_stamp();
-- A waiting entry is moved (deleted) by the sequencer, never changed.
DROP TRIGGER IF EXISTS audit_pending_unchanged ON audit_pending;
CREATE TRIGGER audit_pending_unchanged BEFORE UPDATE ON audit_pending FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TABLE IF NOT EXISTS outbox_pending (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type       text NOT NULL,
  entity_key text,
  payload    jsonb NOT NULL,
  at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
