#!/usr/bin/env bash
# PostgreSQL for the scale-out tests: a throwaway cluster on loopback.
#
#   tests/postgres.sh start DIR     initdb a cluster in DIR/data, start it on a
#       free loopback port (socket in DIR too), create database `oxen`, and
#       print the environment to use it, one VAR=VALUE a line (OXEN_DB, a
#       postgres:// URL; PG_PORT; PG_PID). The server's log is DIR/pg.log.
#   tests/postgres.sh stop DIR      stop the cluster started in DIR (fast).
#   tests/postgres.sh restart DIR   stop it and start it again on the same
#       port (the tests' "database restarted mid-push" fault).
#
# OXEN_PG_OPTS adds server options for profiling, e.g.
# OXEN_PG_OPTS="-c log_min_duration_statement=0" logs every statement
# with its duration to DIR/pg.log.
#
# Needs PostgreSQL 15's server programs (Debian: `apt-get install
# postgresql`): installs them with apt-get when missing and running as root.
# PostgreSQL refuses to run as root, so as root the cluster runs as the
# `postgres` user (runuser), in a directory it owns.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    echo "usage: $0 start DIR | stop DIR | restart DIR" >&2
    exit 2
fi

find_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        if [[ -x $d/pg_ctl && -x $d/initdb ]]; then
            PGBIN=$d
            return 0
        fi
    done
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        PGBIN=$(dirname "$(command -v pg_ctl)")
        return 0
    fi
    return 1
}
if ! find_bin; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        (
            flock 9
            find_bin || DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
        ) 9>"${TMPDIR:-/tmp}/oxen-postgres-install.lock" || true
    fi
    find_bin || { echo "PostgreSQL is not installed: run 'apt-get install postgresql'" >&2; exit 1; }
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# Run a PostgreSQL program as the cluster's owner.
as_owner() {
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_stop() {
    if [[ -f $dir/data/postmaster.pid ]]; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
}

pg_start() {
    local port=$1
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
        -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 ${OXEN_PG_OPTS:-}" \
        start >/dev/null
}

case $cmd in
stop)
    pg_stop
    exit 0
    ;;
restart)
    port=$(cat "$dir/port")
    pg_stop
    pg_start "$port"
    exit 0
    ;;
start) ;;
*)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac

mkdir -p "$dir/sock"
if [[ $(id -u) == 0 ]]; then
    # The cluster's owner must reach DIR: open the path to it for traversal.
    p=$dir
    while [[ $p != / ]]; do
        chmod o+x "$p" 2>/dev/null || true
        p=$(dirname "$p")
    done
    chown -R postgres: "$dir"
fi
# Trust on loopback: a throwaway cluster for tests, reachable only here.
as_owner "$PGBIN/initdb" -D "$dir/data" -U oxen -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
# A port can still be taken between the choice and the bind: try others.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for attempt in 1 2 3 4 5; do
    port=$(python3 "$here/free_ports.py" 1)
    echo "$port" >"$dir/port"
    pg_start "$port" && break
    if [[ $attempt == 5 ]] || ! grep -q "already in use" "$dir/pg.log"; then
        cat "$dir/pg.log" >&2
        exit 1
    fi
done
as_owner "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U oxen oxen
pid=$(head -1 "$dir/data/postmaster.pid")
echo "OXEN_DB=postgres://oxen@127.0.0.1:$port/oxen"
echo "PG_PORT=$port"
echo "PG_PID=$pid"
