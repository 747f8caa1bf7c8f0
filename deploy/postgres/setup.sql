-- VitalGate's PostgreSQL role and database. Run as a superuser with psql variables:
--   psql -v ON_ERROR_STOP=1 -v role=vitalgate -v password="$PASSWORD" -v database=vitalgate -f setup.sql
-- (deploy/postgres/setup.sh does this). Safe to run again: it changes only the password.
--
-- The role owns its database and nothing else: no superuser, no CREATEDB, no CREATEROLE.
-- It creates its tables itself (`vitalgate-cloud migrate`), so it owns the public schema.

SELECT format('CREATE ROLE %I LOGIN', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'password';

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'database', :'role', 'UTF8')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";

\connect :"database"
ALTER SCHEMA public OWNER TO :"role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
