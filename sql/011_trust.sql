-- Trust: tokens belong to people and services, approvals compare those, and the application's
-- database role may not rewrite the audit log.

-- Every token has an owner, a person or a service; the owner is the actor of every change made with
-- it, so two tokens of one person are one person to two-person approval. Until now a token's name
-- was the person in audit entries: each existing token becomes its own person, named like it, so
-- what the log already says and what it says from now on name the same actor. The built-in admin
-- token (made at start from FLAGS_ADMIN_TOKEN) belongs to the operators, as the service `admin`.
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS owner_id text;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS owner_name text;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS owner_kind text CHECK (owner_kind IN ('person', 'service'));
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS built_in boolean NOT NULL DEFAULT false;
UPDATE tokens SET built_in = true WHERE name = 'admin' AND created_by = 'system';
UPDATE tokens SET owner_id = 'admin', owner_name = 'built-in admin', owner_kind = 'service' WHERE built_in AND owner_id IS NULL;
-- A token someone else named like the service's own actors (the built-in `admin`) does not get to
-- act in that name from now on.
UPDATE tokens SET owner_id = CASE WHEN lower(name) IN ('admin', 'system', 'temporal-ui') THEN name || '~' || id ELSE name END,
  owner_name = name, owner_kind = 'person'
  WHERE owner_id IS NULL;
ALTER TABLE tokens ALTER COLUMN owner_id SET NOT NULL;
ALTER TABLE tokens ALTER COLUMN owner_name SET NOT NULL;
ALTER TABLE tokens ALTER COLUMN owner_kind SET NOT NULL;
CREATE INDEX IF NOT EXISTS tokens_owner_idx ON tokens (lower(owner_id));

-- Names are never reused, not even after revocation, and never differ only in case. Where one was
-- used twice, the built-in token keeps it, then the live one, then the newest; the others become
-- `name~id` (a character minted names cannot contain).
UPDATE tokens SET name = tokens.name || '~' || tokens.id
FROM (
  SELECT id, row_number() OVER (PARTITION BY lower(name) ORDER BY built_in DESC, (revoked_at IS NULL) DESC, created_at DESC, id) AS rank
  FROM tokens
) ranked
WHERE ranked.id = tokens.id AND ranked.rank > 1;
DROP INDEX IF EXISTS tokens_live_name_idx;
CREATE UNIQUE INDEX IF NOT EXISTS tokens_name_idx ON tokens (lower(name));

-- Audit entries name the actor's readable name and the token the change was made with, beside the
-- actor's id. `format` 2 entries hash them too, over an unambiguous encoding; format 1 entries keep
-- the hash they were written with.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS actor_name text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS token_id text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS format smallint NOT NULL DEFAULT 1;
ALTER TABLE audit_log ALTER COLUMN format SET DEFAULT 2;

CREATE OR REPLACE FUNCTION audit_entry_hash(entry audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN entry.format = 1 THEN encode(sha256(convert_to(
    entry.prev_hash || '|' || entry.id::text || '|' || to_char(entry.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '|' ||
    entry.actor || '|' || coalesce(entry.approver, '') || '|' || entry.action || '|' || entry.entity_type || '|' ||
    entry.entity_key || '|' || coalesce(entry.version::text, '') || '|' || coalesce(entry.before::text, 'null') || '|' ||
    coalesce(entry.after::text, 'null') || '|' || entry.diff::text,
    'UTF8')), 'hex')
  ELSE encode(sha256(convert_to(jsonb_build_array(
    entry.format, entry.prev_hash, entry.id, to_char(entry.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    entry.actor, entry.actor_name, entry.token_id, entry.approver, entry.action, entry.entity_type, entry.entity_key,
    entry.version, entry.before, entry.after, entry.diff)::text,
    'UTF8')), 'hex')
  END
$$;

-- Each entry's hash is signed, as it is written, by the process that writes it (the API or the
-- worker) with an Ed25519 key the database never holds: whoever rewrites the table can recompute
-- the chain but not these. Append-only like the log. Entries written before this migration carry
-- none: audit_signing.unsigned_through says up to where, and every checkpoint repeats it, signed.
CREATE TABLE IF NOT EXISTS audit_signatures (
  entry_id  bigint PRIMARY KEY REFERENCES audit_log (id),
  key_id    text NOT NULL,
  signature text NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_signing (
  unsigned_through bigint NOT NULL
);
INSERT INTO audit_signing (unsigned_through)
  SELECT coalesce(max(id), 0) FROM audit_log WHERE NOT EXISTS (SELECT FROM audit_signing);

CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS audit_signatures_append_only ON audit_signatures;
CREATE TRIGGER audit_signatures_append_only BEFORE UPDATE OR DELETE ON audit_signatures FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
DROP TRIGGER IF EXISTS audit_signatures_no_truncate ON audit_signatures;
CREATE TRIGGER audit_signatures_no_truncate BEFORE TRUNCATE ON audit_signatures FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
DROP TRIGGER IF EXISTS audit_signing_fixed ON audit_signing;
CREATE TRIGGER audit_signing_fixed BEFORE INSERT OR UPDATE OR DELETE ON audit_signing FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

-- Roles. The owner (whoever runs these migrations) owns every table. The API and the worker connect
-- as a login role that is a member of flags_application, which may read and write the tables but
-- only read and append to the audit log: no UPDATE, DELETE or TRUNCATE there, and, owning nothing,
-- it cannot switch the append-only triggers off (that needs the owner or a superuser).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'flags_application') THEN
    CREATE ROLE flags_application NOLOGIN;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE EXCEPTION 'the role flags_application does not exist and % may not create it', current_user
    USING HINT = 'create it once as a superuser (CREATE ROLE flags_application NOLOGIN) and make the application''s login role a member (GRANT flags_application TO <role>); see docs/audit.md';
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO flags_application;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO flags_application;
REVOKE UPDATE, DELETE ON audit_log, audit_signatures FROM flags_application;
REVOKE INSERT, UPDATE, DELETE ON audit_signing FROM flags_application;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM flags_application;
-- Tables later migrations create are the application's too; an append-only one revokes what it must.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO flags_application;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO flags_application;
