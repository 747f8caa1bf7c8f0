#!/usr/bin/env bash
# Create VitalGate's PostgreSQL role and database (idempotent) and print the database URL
# for VG_DATABASE_URL. Run where psql reaches the server as a superuser, e.g.
#   sudo -u postgres deploy/postgres/setup.sh
# Environment: VG_PG_ROLE (vitalgate), VG_PG_DATABASE (vitalgate), VG_PG_PASSWORD (generated
# when unset), VG_PG_HOST (127.0.0.1, only used in the printed URL), VG_PG_PORT (5432);
# PGHOST, PGPORT, PGUSER… choose the server psql connects to, as usual.
set -euo pipefail
role=${VG_PG_ROLE:-vitalgate}
database=${VG_PG_DATABASE:-vitalgate}
password=${VG_PG_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')}
here=$(cd "$(dirname "$0")" && pwd)

psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -v password="$password" -v database="$database" \
    -f "$here/setup.sql" postgres >&2
echo "postgresql+psycopg://${role}:${password}@${VG_PG_HOST:-127.0.0.1}:${VG_PG_PORT:-5432}/${database}"
