#!/bin/sh
# kill -9 the pushing client and the server mid-push many times (CI runs 25
# rounds of each): after every kill both sides must pass fsck, the retry
# must succeed sending only what is missing, and the server must keep
# everything it had accepted.
#
#   scripts/crash-sync.sh [rounds] [seed]
#
# rounds defaults to 500 per test; give the seed a failing run printed
# (`crash_sync seed N`) to replay its kill points.
set -eu
rounds=${1:-500}
cd "$(dirname "$0")/.."
if [ $# -ge 2 ]; then
    export OXEN_CRASH_SEED="$2"
fi
OXEN_CRASH_ROUNDS=$rounds exec cargo test --test it crash_sync -- --nocapture --test-threads=1
