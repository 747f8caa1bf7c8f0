#!/usr/bin/env bash
# Restore a backup made by backup.sh into an EMPTY database (create it with setup.sh first).
# Usage:
#   deploy/postgres/restore.sh FILE DBNAME_OR_CONNINFO
# Objects are created as the connecting role (the dump carries no owners or grants), in one
# transaction: either everything is restored or nothing is. Stop the cloud's roles first;
# then run `vitalgate-cloud migrate` (a no-op when the code is the backup's version).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 FILE DBNAME_OR_CONNINFO" >&2
    exit 2
fi
file=$1
db=$2
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges \
    --dbname="$db" "$file"
echo "restored $file"
