-- The system of record: flags, segments, killswitch categories, tokens, the audit chain and the
-- outbox. Every write takes the write lock (see src/data/write-transaction.ts) before anything else,
-- so identity values of audit_log and outbox are assigned in commit order: a reader resuming after
-- id N can never miss a row that commits later with a smaller id.

CREATE TABLE IF NOT EXISTS flags (
  key         text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
  version     integer NOT NULL CHECK (version >= 1),
  state       text NOT NULL CHECK (state IN ('active', 'archived')),
  definition  jsonb NOT NULL,
  description text NOT NULL DEFAULT '',
  tags        text[] NOT NULL DEFAULT '{}',
  killswitch  text,
  high_impact boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  updated_by  text NOT NULL
);
CREATE INDEX IF NOT EXISTS flags_tags_idx ON flags USING gin (tags);
CREATE INDEX IF NOT EXISTS flags_killswitch_idx ON flags (killswitch) WHERE killswitch IS NOT NULL;

CREATE TABLE IF NOT EXISTS segments (
  key        text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
  version    integer NOT NULL CHECK (version >= 1),
  definition jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  updated_by text NOT NULL
);

CREATE TABLE IF NOT EXISTS killswitches (
  category   text PRIMARY KEY,
  engaged    boolean NOT NULL,
  reason     text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  token_hash  text NOT NULL UNIQUE,
  scopes      text[] NOT NULL,
  project_ids text[],
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  revoked_at  timestamptz
);
-- The name is the actor in audit entries, so two live tokens may not share one.
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name_idx ON tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE IF NOT EXISTS audit_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor       text NOT NULL,
  approver    text,
  action      text NOT NULL,
  entity_type text NOT NULL,
  entity_key  text NOT NULL,
  version     integer,
  before      jsonb,
  after       jsonb,
  diff        jsonb NOT NULL,
  prev_hash   text NOT NULL,
  hash        text NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS audit_log_entity_idx ON audit_log (entity_type, entity_key, id);

-- The hash covers every column a reader relies on, in a fixed order, plus the previous entry's hash.
-- jsonb's text form is canonical (keys sorted, whitespace fixed), so the same content always hashes
-- the same; /v1/audit/verify recomputes it with this same function.
CREATE OR REPLACE FUNCTION audit_entry_hash(entry audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(
    entry.prev_hash || '|' || entry.id::text || '|' || to_char(entry.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '|' ||
    entry.actor || '|' || coalesce(entry.approver, '') || '|' || entry.action || '|' || entry.entity_type || '|' ||
    entry.entity_key || '|' || coalesce(entry.version::text, '') || '|' || coalesce(entry.before::text, 'null') || '|' ||
    coalesce(entry.after::text, 'null') || '|' || entry.diff::text,
    'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Same lock as every write transaction: entries are chained strictly in id order.
  PERFORM pg_advisory_xact_lock(7233002);
  SELECT hash INTO NEW.prev_hash FROM audit_log ORDER BY id DESC LIMIT 1;
  NEW.prev_hash := coalesce(NEW.prev_hash, 'genesis');
  NEW.hash := audit_entry_hash(NEW);
  RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

DROP TRIGGER IF EXISTS audit_log_chain ON audit_log;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

CREATE TABLE IF NOT EXISTS outbox (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type       text NOT NULL,
  entity_key text,
  payload    jsonb NOT NULL,
  at         timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS webhooks (
  id           text PRIMARY KEY,
  url          text NOT NULL,
  secret       text NOT NULL,
  event_types  text[] NOT NULL DEFAULT '{}',
  active       boolean NOT NULL DEFAULT true,
  -- Delivery is in order: the cursor is the last outbox id acknowledged by the receiver.
  cursor       bigint NOT NULL DEFAULT 0,
  attempts     integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL
);
