#!/bin/sh
# Run once by the postgres image when it initialises its data folder: the application's login role,
# a member of flags_application, which sql/011_trust.sql grants reading and writing the tables and
# only appending to the audit log. The superuser POSTGRES_USER owns the schema and runs migrations.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v app_password="$FLAGS_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE flags_application NOLOGIN;
CREATE ROLE flags_app LOGIN PASSWORD :'app_password' IN ROLE flags_application;
SQL
