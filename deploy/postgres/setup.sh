#!/usr/bin/env bash
# Create VitalGate's PostgreSQL role and database (idempotent) and print the database URL
# for VG_DATABASE_URL. Run where psql reaches the server as a superuser, e.g.
#   sudo -u postgres deploy/postgres/setup.sh
# Environment: DB_ROLE (vitalgate), DB_NAME (vitalgate), DB_PASSWORD (generated
# when unset), DB_HOST (127.0.0.1, only used in the printed URL), DB_PORT (5432);
# PGHOST, PGPORT, PGUSER… choose the server psql connects to, as usual.
set -euo pipefail
role=${DB_ROLE:-vitalgate}
database=${DB_NAME:-vitalgate}
password=${DB_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')}
here=$(cd "$(dirname "$0")" && pwd)

psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -v password="$password" -v database="$database" \
    -f "$here/setup.sql" postgres >&2
echo "postgresql+psycopg://${role}:${password}@${DB_HOST:-127.0.0.1}:${DB_PORT:-5432}/${database}"
