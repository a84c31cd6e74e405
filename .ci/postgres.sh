#!/usr/bin/env bash
# A PostgreSQL server on this machine for aetui, from Debian's `postgresql` package.
#
# Idempotent and quick when done before: installs the package when missing, creates the
# cluster when missing, starts it when down, and creates the role `aetui` (password
# `aetui`) owning the database `aetui_test` (AETUI_PG_DB overrides the name). Run as root.
#
#   eval "$(bash .ci/postgres.sh)"      # exports AETUI_TEST_PG_URL (what the tests use)
#   AETUI_DB=$AETUI_TEST_PG_URL aetui db upgrade
#
# For a lab server use your own role, password and database, and let the other machines in
# (listen_addresses and pg_hba.conf): see docs/scale-out.md.
# Exit code 3: no PostgreSQL and no way to install it (apt-get unavailable).
set -euo pipefail
DB=${AETUI_PG_DB:-aetui_test}
log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "PostgreSQL is not installed and apt-get is unavailable"
        exit 3
    fi
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || { log "apt-get update failed"; exit 3; }
    apt-get install -y -qq postgresql >/dev/null 2>&1 || { log "apt-get install postgresql failed"; exit 3; }
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
    log "creating cluster $version/main"
    pg_createcluster "$version" main >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    log "starting cluster $version/main on port $port"
    pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$port" >&2

as_postgres() { runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qtA "$@"; }
as_postgres -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aetui') THEN
    CREATE ROLE aetui LOGIN PASSWORD 'aetui';
  END IF; END \$\$;" >&2
if [ -z "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    log "creating database $DB"
    runuser -u postgres -- createdb -p "$port" -O aetui "$DB" >&2
fi
echo "export AETUI_TEST_PG_URL=postgresql://aetui:aetui@127.0.0.1:$port/$DB"
