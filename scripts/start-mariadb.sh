#!/usr/bin/env bash
# Start a throwaway MariaDB server for the tests (SPEC §8) and print its URL on the last line:
#   REPLAYER_TEST_MYSQL_URL=mysql://replayer:…@127.0.0.1:PORT/replayer_test
# Idempotent: a server this script started for this checkout and that still answers is reused.
#   bash scripts/start-mariadb.sh          install (Debian's mariadb-server) when missing, start, print the URL
#   bash scripts/start-mariadb.sh --stop   stop the server it started
# The server listens on 127.0.0.1 only; its data, socket, pid and log live in $REPLAYER_MARIADB_DIR
# (default: a directory under the temp dir named after this checkout, so two checkouts on one
# machine never share or stop each other's server). Progress goes to stderr, the URL to stdout.
set -euo pipefail

checkout="$(cd "$(dirname "$0")/.." && pwd -P)"
checkout_id="$(printf '%s' "$checkout" | sha256sum | cut -c1-12)"
state_dir="${REPLAYER_MARIADB_DIR:-${TMPDIR:-/tmp}/replayer-ci-$checkout_id/mariadb}"
data_dir="$state_dir/data"
socket="$state_dir/mariadb.sock"
pid_file="$state_dir/mariadb.pid"
port_file="$state_dir/port"
log_file="$state_dir/error.log"
database=replayer_test
user=replayer
password=replayer-test-pw

say() { echo "start-mariadb: $*" >&2; }

server_pid() {
    [[ -s "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null && cat "$pid_file"
}

answers() {
    mariadb-admin --no-defaults --protocol=socket --socket="$socket" -uroot --connect-timeout=2 ping >/dev/null 2>&1
}

if [[ "${1:-}" == "--stop" ]]; then
    if pid="$(server_pid)"; then
        say "stopping mariadbd (pid $pid)"
        kill "$pid"
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.5; done
        say "mariadbd (pid $pid) did not stop within 30 s; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    exit 0
fi

if ! command -v mariadbd >/dev/null 2>&1 && [[ ! -x /usr/sbin/mariadbd ]]; then
    say "installing mariadb-server from Debian's packages"
    # Keep apt from starting a system-wide server on port 3306: we start our own below.
    added_policy=false
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=true
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >&2
    if $added_policy; then rm -f /usr/sbin/policy-rc.d; fi
fi
export PATH="$PATH:/usr/sbin:/usr/bin"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if server_pid >/dev/null && answers; then
    port="$(cat "$port_file")"
    say "reusing mariadbd (pid $(cat "$pid_file")) on 127.0.0.1:$port"
else
    mkdir -p "$state_dir"
    run_as=(--user="$(id -un)")
    if [[ ! -d "$data_dir/mysql" ]]; then
        say "initialising $data_dir"
        rm -rf "$data_dir"
        mariadb-install-db --no-defaults "${run_as[@]}" --datadir="$data_dir" \
            --auth-root-authentication-method=socket --skip-test-db >"$state_dir/install.log" 2>&1 \
            || { cat "$state_dir/install.log" >&2; say "mariadb-install-db failed (log above)"; exit 1; }
    fi
    port="${REPLAYER_MARIADB_PORT:-3307}"
    while ! port_free "$port"; do port=$((port + 1)); done
    echo "$port" >"$port_file"
    say "starting mariadbd on 127.0.0.1:$port"
    setsid mariadbd --no-defaults "${run_as[@]}" --datadir="$data_dir" --socket="$socket" \
        --pid-file="$pid_file" --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
        --log-error="$log_file" --innodb-buffer-pool-size=64M --max-connections=200 \
        </dev/null >/dev/null 2>&1 &
    for attempt in $(seq 1 120); do
        answers && break
        if ! kill -0 $! 2>/dev/null; then
            tail -n 30 "$log_file" >&2 || true
            say "mariadbd exited while starting (log above, full log in $log_file)"
            exit 1
        fi
        if [[ $attempt == 120 ]]; then
            tail -n 30 "$log_file" >&2 || true
            say "mariadbd did not answer within 60 s (log in $log_file)"
            exit 1
        fi
        sleep 0.5
    done
fi

mariadb --no-defaults --protocol=socket --socket="$socket" -uroot >&2 <<SQL
CREATE DATABASE IF NOT EXISTS $database;
CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$password';
-- The tests also make databases named ${database}_… (one without attrib_account, for instance).
GRANT ALL PRIVILEGES ON \`${database}%\`.* TO '$user'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`${database}%\`.* TO '$user'@'localhost';
CREATE TABLE IF NOT EXISTS $database.attrib_account (
  id            INTEGER PRIMARY KEY AUTO_INCREMENT,
  account_token VARCHAR(64)  NOT NULL UNIQUE,
  connection    VARCHAR(255) NOT NULL DEFAULT '',
  label         VARCHAR(255) NOT NULL DEFAULT ''
) ENGINE=InnoDB;
SQL

echo "REPLAYER_TEST_MYSQL_URL=mysql://$user:$password@127.0.0.1:$port/$database"
