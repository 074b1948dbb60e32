#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests (SPEC §8) and print its URL on the last line:
#   REPLAYER_TEST_POSTGRES_URL=postgres://replayer:…@127.0.0.1:PORT/replayer_test
# Idempotent: a server this script started for this checkout and that still answers is reused.
#   bash scripts/start-postgres.sh          install (Debian's postgresql) when missing, start, print the URL
#   bash scripts/start-postgres.sh --stop   stop the server it started
# The server listens on 127.0.0.1 only; its data, socket and log live in $REPLAYER_POSTGRES_DIR
# (default: a directory under the temp dir named after this checkout, so two checkouts on one
# machine never share or stop each other's server). PostgreSQL refuses to run as root, so when
# this script runs as root the server runs as Debian's `postgres` user.
# Progress goes to stderr, the URL to stdout.
set -euo pipefail

checkout="$(cd "$(dirname "$0")/.." && pwd -P)"
checkout_id="$(printf '%s' "$checkout" | sha256sum | cut -c1-12)"
state_dir="${REPLAYER_POSTGRES_DIR:-${TMPDIR:-/tmp}/replayer-ci-$checkout_id/postgres}"
data_dir="$state_dir/data"
port_file="$state_dir/port"
log_file="$state_dir/server.log"
database=replayer_test
user=replayer
password=replayer-test-pw

say() { echo "start-postgres: $*" >&2; }

find_bin() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$found" && -x "$found/pg_ctl" ]] && echo "$found"
}

# Run a PostgreSQL program as the server's owner.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

bin="$(find_bin || true)"

if [[ "${1:-}" == "--stop" ]]; then
    if [[ -n "$bin" && -s "$data_dir/postmaster.pid" ]]; then
        say "stopping the server in $data_dir"
        as_owner "$bin/pg_ctl" -D "$data_dir" -m fast -w -t 30 stop >&2 || true
    fi
    exit 0
fi

if [[ -z "$bin" ]]; then
    say "installing postgresql from Debian's packages"
    # Keep apt from starting a system-wide server on port 5432: we start our own below.
    added_policy=false
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=true
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql postgresql-client >&2
    if $added_policy; then rm -f /usr/sbin/policy-rc.d; fi
    bin="$(find_bin)" || { say "postgresql installed, but no pg_ctl under /usr/lib/postgresql"; exit 1; }
fi

answers() {
    [[ -s "$port_file" ]] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$port_file")" -t 2 >/dev/null 2>&1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -s "$data_dir/postmaster.pid" ]] && answers; then
    port="$(cat "$port_file")"
    say "reusing the server in $data_dir on 127.0.0.1:$port"
else
    mkdir -p "$state_dir"
    if [[ "$(id -u)" == 0 ]]; then chown postgres: "$state_dir"; fi
    if [[ ! -s "$data_dir/PG_VERSION" ]]; then
        say "initialising $data_dir"
        rm -rf "$data_dir"
        as_owner "$bin/initdb" -D "$data_dir" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            --encoding=UTF8 --no-instructions >"$state_dir/initdb.log" 2>&1 \
            || { cat "$state_dir/initdb.log" >&2; say "initdb failed (log above)"; exit 1; }
    fi
    rm -f "$data_dir/postmaster.pid"
    port="${REPLAYER_POSTGRES_PORT:-5433}"
    while ! port_free "$port"; do port=$((port + 1)); done
    echo "$port" >"$port_file"
    say "starting PostgreSQL on 127.0.0.1:$port"
    as_owner "$bin/pg_ctl" -D "$data_dir" -l "$log_file" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $state_dir -c max_connections=200 -c fsync=off -c shared_buffers=64MB" \
        start >&2 || { tail -n 30 "$log_file" >&2 || true; say "PostgreSQL did not start (log above)"; exit 1; }
fi

as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$state_dir" -p "$port" -U postgres -d postgres >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
    CREATE ROLE $user LOGIN CREATEDB PASSWORD '$password';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $database OWNER $user' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$database')\gexec
SQL
PGPASSWORD="$password" PGOPTIONS="-c client_min_messages=warning" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$user" -d "$database" >&2 <<SQL
CREATE TABLE IF NOT EXISTS attrib_account (
  id            SERIAL PRIMARY KEY,
  account_token VARCHAR(64)  NOT NULL UNIQUE,
  connection    VARCHAR(255) NOT NULL DEFAULT '',
  label         VARCHAR(255) NOT NULL DEFAULT ''
);
SQL

echo "REPLAYER_TEST_POSTGRES_URL=postgres://$user:$password@127.0.0.1:$port/$database"
