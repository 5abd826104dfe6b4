-- Trust: the application's database role may not rewrite the audit log.
--
-- The owner (whoever runs these migrations) owns every table. The API and the worker connect as a
-- login role that is a member of flags_application, which may read and write the tables but only
-- read and append to the audit log: no UPDATE, DELETE or TRUNCATE there, and, owning nothing, it
-- cannot switch the append-only triggers off (that needs the owner or a superuser).
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
REVOKE UPDATE, DELETE ON audit_log FROM flags_application;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM flags_application;
-- Tables later migrations create are the application's too; an append-only one revokes what it must.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO flags_application;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO flags_application;
