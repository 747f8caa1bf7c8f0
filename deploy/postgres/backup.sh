#!/usr/bin/env bash
# Back up VitalGate's database with pg_dump (custom format: compressed, restored selectively
# and in parallel by pg_restore). Usage:
#   deploy/postgres/backup.sh DBNAME_OR_CONNINFO [FILE]
# e.g. deploy/postgres/backup.sh "host=127.0.0.1 user=vitalgate dbname=vitalgate" \
#        /var/backups/vitalgate/vitalgate-$(date -u +%Y%m%dT%H%M%SZ).dump
# The password comes from ~/.pgpass or PGPASSWORD. The dump is consistent (one snapshot),
# taken while the cloud runs. It is written to FILE.partial and renamed when complete, so a
# failed run never leaves a file that looks like a backup. Keep it as secret as the database.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 DBNAME_OR_CONNINFO [FILE]" >&2
    exit 2
fi
db=$1
out=${2:-vitalgate-$(date -u +%Y%m%dT%H%M%SZ).dump}
umask 077
pg_dump --format=custom --no-owner --no-privileges --file="$out.partial" --dbname="$db"
pg_restore --list "$out.partial" >/dev/null # readable from end to end
mv "$out.partial" "$out"
echo "$out"
