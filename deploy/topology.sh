#!/usr/bin/env bash
# The scale-out topology on loopback, as processes: metadata in PostgreSQL,
# contents in S3 (SeaweedFS), N oxen-server replicas and nginx in front.
# The same topology as deploy/docker-compose.yml; used by the tests
# (tests/it/scaleout.rs), the bench (`bench/run --case scaleout`) and a
# person trying it (deploy/README.md).
#
#   deploy/topology.sh start DIR [--replicas N] [--bin-dir D] [--metadata M]
#       Start everything with its data, logs and pid files under DIR, on
#       free loopback ports, add an admin user, and print the environment
#       one VAR=VALUE a line (also saved as DIR/topology.env):
#         OXEN_PROXY_URL        nginx, the URL clients use
#         OXEN_REPLICAS         N
#         OXEN_REPLICA_<I>_URL, OXEN_REPLICA_<I>_PID   (I = 1..N)
#         OXEN_HOME             a client home whose user_config.toml holds
#                               the admin token for the proxy and every
#                               replica (OXEN_USER_CONFIG is that file)
#         OXEN_TOKEN            the admin token (for curl)
#         OXEN_METADATA         postgres | shared-sync-dir (see below)
#         OXEN_DB               the PostgreSQL URL (postgres mode)
#         OXEN_STORAGE          s3://BUCKET/PREFIX the replicas store into
#         AWS_*                 the S3 endpoint and credentials
#         NGINX_PID, PG_PID, WEED_PID
#         WEED_FILER            SeaweedFS's filer (the bucket as folders)
#   deploy/topology.sh stop DIR              stop everything started in DIR
#   deploy/topology.sh kill-replica DIR I    SIGKILL replica I (a crash)
#   deploy/topology.sh start-replica DIR I   start replica I again, same port
#   deploy/topology.sh env DIR               print the environment again
#
# Binaries: --bin-dir D, else $OXEN_BIN_DIR, else the directory of
# `oxen-server` on PATH.
#
# Metadata (--metadata, default: postgres when `oxen-server start --help`
# has --db, else shared-sync-dir):
#   postgres         replicas share PostgreSQL (OXEN_DB) and S3; each has
#                    its own SYNC_DIR (DIR/replica-I/sync). The real thing.
#   shared-sync-dir  no PostgreSQL: replicas share one SYNC_DIR (DIR/sync,
#                    LMDB, which is safe for several processes on one
#                    host) and S3. Only for a server built without --db.
#
# Needs nginx (apt-get install nginx), PostgreSQL 15 (tests/postgres.sh)
# and SeaweedFS (tests/seaweedfs.sh); fails, saying which, when missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BUCKET=oxen
PREFIX=deploy

usage() {
    echo "usage: $0 start DIR [--replicas N] [--bin-dir D] [--metadata postgres|shared-sync-dir]" >&2
    echo "       $0 stop DIR | kill-replica DIR I | start-replica DIR I | env DIR" >&2
    exit 2
}

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || usage
shift 2

die() {
    echo "topology: $*" >&2
    exit 1
}

find_nginx() {
    NGINX=${NGINX:-}
    [[ -n $NGINX && -x $NGINX ]] && return 0
    for n in /usr/sbin/nginx "$(command -v nginx 2>/dev/null || true)"; do
        if [[ -n $n && -x $n ]]; then
            NGINX=$n
            return 0
        fi
    done
    return 1
}

free_ports() {
    python3 "$here/../tests/free_ports.py" "$1"
}

load_env() {
    [[ -f $dir/topology.env ]] || die "no topology in $dir (no topology.env)"
    set -a
    # shellcheck disable=SC1091
    source "$dir/topology.env"
    set +a
    bin=$(cat "$dir/bin-dir")
}

alive() {
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null
}

# Start replica I on its recorded port; wait until it listens. The one
# place that says how a replica runs: switch metadata backends here.
start_replica() {
    local i=$1 rdir=$dir/replica-$i port
    port=$(cat "$rdir/port")
    local -a envs=("OXEN_STORAGE=$OXEN_STORAGE")
    if [[ $OXEN_METADATA == postgres ]]; then
        envs+=("OXEN_DB=$OXEN_DB" "SYNC_DIR=$rdir/sync")
    else
        envs+=("SYNC_DIR=$dir/sync")
    fi
    : >"$rdir/stdout"
    # setsid: a replica outlives this script and is killed alone.
    setsid env "${envs[@]}" "$bin/oxen-server" start --host 127.0.0.1 --port "$port" \
        >"$rdir/stdout" 2>>"$rdir/server.log" </dev/null &
    local pid=$!
    echo "$pid" >"$rdir/pid"
    for _ in $(seq 1 300); do
        grep -q "^listening on " "$rdir/stdout" 2>/dev/null && return 0
        alive "$pid" || die "replica $i exited; its log ($rdir/server.log): $(tail -3 "$rdir/server.log")"
        sleep 0.1
    done
    die "replica $i did not listen on port $port within 30 s"
}

stop_pid() {
    local pid=$1
    alive "$pid" || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

stop_all() {
    if [[ -f $dir/nginx/nginx.pid ]]; then
        stop_pid "$(cat "$dir/nginx/nginx.pid")"
    fi
    for r in "$dir"/replica-*; do
        [[ -f $r/pid ]] && stop_pid "$(cat "$r/pid")"
    done
    [[ -d $dir/weed ]] && bash "$root/tests/seaweedfs.sh" stop "$dir/weed" || true
    [[ -d $dir/pg ]] && bash "$root/tests/postgres.sh" stop "$dir/pg" || true
}

print_env() {
    cat "$dir/topology.env"
    for r in "$dir"/replica-*; do
        i=${r##*-}
        echo "OXEN_REPLICA_${i}_PID=$(cat "$r/pid")"
    done
}

case $cmd in
stop)
    [[ -d $dir ]] || exit 0
    dir=$(cd "$dir" && pwd)
    stop_all
    exit 0
    ;;
env)
    dir=$(cd "$dir" && pwd)
    print_env
    exit 0
    ;;
kill-replica | start-replica)
    i=${1:-}
    [[ $i =~ ^[0-9]+$ ]] || usage
    dir=$(cd "$dir" && pwd)
    load_env
    [[ -d $dir/replica-$i ]] || die "no replica $i in $dir"
    pid=$(cat "$dir/replica-$i/pid")
    if [[ $cmd == kill-replica ]]; then
        kill -9 "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.05; done
    else
        alive "$pid" && die "replica $i is running (pid $pid)"
        start_replica "$i"
        echo "OXEN_REPLICA_${i}_PID=$(cat "$dir/replica-$i/pid")"
    fi
    exit 0
    ;;
start) ;;
*) usage ;;
esac

replicas=3
bin=${OXEN_BIN_DIR:-}
metadata=
while [[ $# -gt 0 ]]; do
    case $1 in
    --replicas) replicas=$2; shift 2 ;;
    --bin-dir) bin=$2; shift 2 ;;
    --metadata) metadata=$2; shift 2 ;;
    *) usage ;;
    esac
done
[[ $replicas =~ ^[1-9][0-9]*$ ]] || die "--replicas wants a positive number, not '$replicas'"
if [[ -z $bin ]]; then
    s=$(command -v oxen-server 2>/dev/null) || die "no oxen-server: pass --bin-dir or set OXEN_BIN_DIR"
    bin=$(dirname "$s")
fi
bin=$(cd "$bin" && pwd)
[[ -x $bin/oxen-server ]] || die "no oxen-server in $bin"
find_nginx || die "nginx is not installed: run 'apt-get install nginx'"
if [[ -z $metadata ]]; then
    if "$bin/oxen-server" start --help 2>/dev/null | grep -q -- '--db'; then
        metadata=postgres
    else
        metadata=shared-sync-dir
    fi
fi
[[ $metadata == postgres || $metadata == shared-sync-dir ]] || usage

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[[ -f $dir/topology.env ]] && die "$dir already holds a topology (stop it, or use another DIR)"
echo "$bin" >"$dir/bin-dir"
# Whatever fails from here stops what was started.
trap 'stop_all' EXIT

{
    echo "OXEN_METADATA=$metadata"
    echo "OXEN_STORAGE=s3://$BUCKET/$PREFIX"
} >"$dir/topology.env.part"
if [[ $metadata == postgres ]]; then
    bash "$root/tests/postgres.sh" start "$dir/pg" >"$dir/pg.env" || die "PostgreSQL did not start"
    grep -E '^(OXEN_DB|PG_PID)=' "$dir/pg.env" >>"$dir/topology.env.part"
fi
mkdir -p "$dir/weed"
bash "$root/tests/seaweedfs.sh" start "$dir/weed" "$BUCKET" >"$dir/weed.env" || die "SeaweedFS did not start"
grep -E '^(AWS_[A-Z_]+|WEED_PID|WEED_FILER)=' "$dir/weed.env" >>"$dir/topology.env.part"
set -a
# shellcheck disable=SC1091
source "$dir/topology.env.part"
set +a
OXEN_METADATA=$metadata

read -r -a ports < <(free_ports $((replicas + 1)))
proxy_port=${ports[0]}
proxy_url=http://127.0.0.1:$proxy_port
upstreams=
for i in $(seq 1 "$replicas"); do
    mkdir -p "$dir/replica-$i"
    echo "${ports[$i]}" >"$dir/replica-$i/port"
    upstreams+="        server 127.0.0.1:${ports[$i]} max_fails=2 fail_timeout=5s;"$'\n'
done

# The admin user, written where the replicas read users (the shared
# SYNC_DIR, or PostgreSQL), with a token for the proxy's origin.
mkdir -p "$dir/home"
users_sync=$dir/sync
[[ $metadata == postgres ]] && users_sync=$dir/replica-1/sync
mkdir -p "$users_sync"
admin=()
"$bin/oxen-server" add-user --help 2>/dev/null | grep -q -- '--admin' && admin=(--admin)
SYNC_DIR=$users_sync "$bin/oxen-server" add-user --email admin@example.com --name Admin "${admin[@]}" \
    --host "$proxy_url" --output "$dir/home/user_config.toml" >"$dir/add-user.log" 2>&1 ||
    die "add-user failed: $(tail -1 "$dir/add-user.log")"
token=$(sed -n 's/^token = "\(.*\)"$/\1/p' "$dir/home/user_config.toml" | head -1)
[[ -n $token ]] || die "no token in $dir/home/user_config.toml"
# The same token for each replica's own origin (to reach one directly).
for i in $(seq 1 "$replicas"); do
    printf '\n[host."http://127.0.0.1:%s"]\ntoken = "%s"\n' "${ports[$i]}" "$token" >>"$dir/home/user_config.toml"
done

for i in $(seq 1 "$replicas"); do
    start_replica "$i"
done

mkdir -p "$dir/nginx/tmp"
cp "$here/nginx/oxen-proxy.conf" "$dir/nginx/oxen-proxy.conf"
python3 - "$here/nginx/topology.conf.template" "$dir/nginx/nginx.conf" "$dir" "$proxy_port" "$upstreams" <<'PY'
import sys
src, dst, d, port, ups = sys.argv[1:6]
text = open(src).read().replace("@DIR@", d).replace("@PORT@", port).replace("@UPSTREAM_SERVERS@\n", ups)
open(dst, "w").write(text)
PY
if [[ $(id -u) == 0 ]]; then
    # Workers run as nginx's unprivileged user: let them write the temp dirs.
    chmod 1777 "$dir/nginx/tmp"
fi
"$NGINX" -t -q -c "$dir/nginx/nginx.conf" -p "$dir/nginx" 2>"$dir/nginx/test.log" ||
    die "nginx rejected $dir/nginx/nginx.conf: $(tail -2 "$dir/nginx/test.log")"
"$NGINX" -c "$dir/nginx/nginx.conf" -p "$dir/nginx" </dev/null >/dev/null 2>"$dir/nginx/start.log" ||
    die "nginx did not start: $(tail -2 "$dir/nginx/start.log")"
for _ in $(seq 1 100); do
    [[ -s $dir/nginx/nginx.pid ]] && break
    sleep 0.05
done
python3 - "$proxy_port" <<'PY' || die "nginx does not answer on port $proxy_port"
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY

{
    cat "$dir/topology.env.part"
    echo "OXEN_PROXY_URL=$proxy_url"
    echo "OXEN_REPLICAS=$replicas"
    for i in $(seq 1 "$replicas"); do
        echo "OXEN_REPLICA_${i}_URL=http://127.0.0.1:${ports[$i]}"
    done
    echo "OXEN_HOME=$dir/home"
    echo "OXEN_USER_CONFIG=$dir/home/user_config.toml"
    echo "OXEN_TOKEN=$token"
    [[ $metadata == shared-sync-dir ]] && echo "SYNC_DIR=$dir/sync"
    echo "NGINX_PID=$(cat "$dir/nginx/nginx.pid")"
} >"$dir/topology.env"
rm -f "$dir/topology.env.part"
trap - EXIT
print_env
