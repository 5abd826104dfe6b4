import type pg from 'pg';

/**
 * The group role that holds the application's privileges, granted by `sql/011_trust.sql`: read and
 * write every table, but only read and append to the audit log. Login roles are made its members,
 * so the migration never needs to know their names.
 */
const APPLICATION_GROUP_ROLE = 'flags_application';

/**
 * Makes `role` a login role with `password` and the application's privileges, and nothing more: not
 * a superuser, owning nothing, so it cannot rewrite the audit log or switch off its triggers. Run as
 * a superuser (or a role with CREATEROLE); repeating it resets the password to `password`.
 */
export async function ensureApplicationRole(client: pg.Client, role: string, password: string): Promise<void> {
  const existing = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [[APPLICATION_GROUP_ROLE, role]]);
  const has = (name: string) => existing.rows.some((row) => row.rolname === name);
  const group = client.escapeIdentifier(APPLICATION_GROUP_ROLE);
  const login = client.escapeIdentifier(role);
  if (!has(APPLICATION_GROUP_ROLE)) await client.query(`CREATE ROLE ${group} NOLOGIN`);
  const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${client.escapeLiteral(password)}`;
  await client.query(has(role) ? `ALTER ROLE ${login} ${attributes}` : `CREATE ROLE ${login} ${attributes}`);
  await client.query(`GRANT ${group} TO ${login}`);
}
