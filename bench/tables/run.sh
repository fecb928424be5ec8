#!/usr/bin/env bash
# Table engine benchmark: ours (the real `oxen` binary: `oxen diff --json
# --keys`, `oxen merge --keys`, `oxen df`, each in a repository holding the
# versions) side by side with `git diff --no-index` and daff 1.4.2 (npm) on
# the same files. The example driver only generates and edits the data.
# Usage: bench/tables/run.sh [--quick]   (--quick: 10x smaller tables)
# Env: TABLES_BENCH_DIR (data, default bench/tables/data), DAFF_TIMEOUT (s, default 900)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${TABLES_BENCH_DIR:-$here/data}
scale=1
[[ "${1:-}" == "--quick" ]] && scale=10
daff_timeout=${DAFF_TIMEOUT:-900}
mkdir -p "$data"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-tables}

[[ -x /usr/bin/time ]] || { apt-get install -y time >/dev/null 2>&1 || { echo "needs GNU time (apt-get install time)"; exit 1; }; }
(cd "$root" && cargo build -q --release -p oxen --bin oxen -p oxen-tabular --example tables 2>/dev/null) || (cd "$root" && cargo build --release -p oxen --bin oxen -p oxen-tabular --example tables)
T="$CARGO_TARGET_DIR/release/examples/tables"
OX="$CARGO_TARGET_DIR/release/oxen"
export OXEN_AUTHOR_NAME=bench OXEN_AUTHOR_EMAIL=bench@example.com OXEN_NO_PROGRESS=1
if [[ ! -x "$here/.daff/node_modules/.bin/daff" ]]; then
  npm install --silent --prefix "$here/.daff" daff@1.4.2 >/dev/null 2>&1 || echo "(daff not installed: npm install failed)"
fi
DAFF="$here/.daff/node_modules/.bin/daff"

n15=$((1500000 / scale)); n5=$((5000000 / scale)); n1=$((1000000 / scale)); n280=$((280000 / scale))
gen() { # rows name
  [[ -s "$data/$2.csv" ]] || "$T" gen "$1" "$data/$2.csv" 1
}
gen "$n15" base15; gen "$n5" base5; gen "$n1" base1; gen "$n280" base280
# 100 modified rows in the 1.5M and 5M tables; 1% edited on each side for the merge.
[[ -s "$data/mod15.csv" ]] || "$T" edit "$data/base15.csv" "$data/mod15.csv" $((n15 / 100)) 3
[[ -s "$data/mod5.csv" ]] || "$T" edit "$data/base5.csv" "$data/mod5.csv" $((n5 / 100)) 3
[[ -s "$data/mod280.csv" ]] || "$T" edit "$data/base280.csv" "$data/mod280.csv" $((n280 / 100)) 3
[[ -s "$data/ours1.csv" ]] || "$T" edit "$data/base1.csv" "$data/ours1.csv" 100 0
[[ -s "$data/theirs1.csv" ]] || "$T" edit "$data/base1.csv" "$data/theirs1.csv" 100 50

# repo_diff NAME OLD NEW: a repository with OLD committed as t.csv and NEW in
# the work tree (setup, not measured).
repo_diff() {
  local r="$data/repo-$1"
  rm -rf "$r" && mkdir -p "$r"
  (cd "$r" && "$OX" init >/dev/null && cp "$2" t.csv && "$OX" add t.csv >/dev/null && "$OX" commit -m base >/dev/null)
  cp "$3" "$r/t.csv"
  echo "$r"
}
# repo_merge NAME BASE OURS THEIRS: main holds OURS, branch theirs holds THEIRS.
repo_merge() {
  local r="$data/repo-$1"
  rm -rf "$r" && mkdir -p "$r"
  (cd "$r" && "$OX" init >/dev/null && cp "$2" t.csv && "$OX" add t.csv >/dev/null && "$OX" commit -m base >/dev/null \
    && "$OX" checkout -b theirs >/dev/null 2>&1 && cp "$4" t.csv && "$OX" commit -am theirs >/dev/null \
    && "$OX" checkout main >/dev/null 2>&1 && cp "$3" t.csv && "$OX" commit -am ours >/dev/null)
  echo "$r"
}

results="$here/results.tsv"
: > "$results"
# measure CASE TOOL CMD...: wall seconds and peak RSS (MiB) via GNU time.
measure() {
  local case=$1 tool=$2; shift 2
  local log; log=$(mktemp)
  local status=0
  timeout "$daff_timeout" /usr/bin/time -v "$@" >/dev/null 2>"$log" || status=$?
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
  if [[ $status -eq 124 ]]; then wall="timeout(${daff_timeout}s)"; fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "${wall:-?}" "${rss:-?}" "$status" | tee -a "$results"
  rm -f "$log"
}

size() { du -m "$1" | cut -f1; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -srm); $(date -u +%F)"
echo "data: base15 $(size "$data/base15.csv") MB, base5 $(size "$data/base5.csv") MB, base1 $(size "$data/base1.csv") MB"
echo -e "case\ttool\twall_s\tpeak_rss_mib\texit"
# 1. Keyed diff, 1.5M rows, 100 modified.
r15=$(repo_diff d15 "$data/base15.csv" "$data/mod15.csv")
measure diff-1.5M ours "$OX" -C "$r15" diff --json --keys id
measure diff-1.5M git git diff --no-index "$data/base15.csv" "$data/mod15.csv"
[[ -x "$DAFF" ]] && measure diff-1.5M daff "$DAFF" diff --id id --output "$data/daff15.txt" "$data/base15.csv" "$data/mod15.csv"
# 2. Keyed diff, 5M rows (~300 MB).
r5=$(repo_diff d5 "$data/base5.csv" "$data/mod5.csv")
measure diff-5M ours "$OX" -C "$r5" diff --json --keys id
measure diff-5M git git diff --no-index "$data/base5.csv" "$data/mod5.csv"
[[ -x "$DAFF" ]] && measure diff-5M daff "$DAFF" diff --id id --output "$data/daff5.txt" "$data/base5.csv" "$data/mod5.csv"
# 3. Keyed diff at 280k rows (where daff was first measured).
r280=$(repo_diff d280 "$data/base280.csv" "$data/mod280.csv")
measure diff-280k ours "$OX" -C "$r280" diff --json --keys id
measure diff-280k git git diff --no-index "$data/base280.csv" "$data/mod280.csv"
[[ -x "$DAFF" ]] && measure diff-280k daff "$DAFF" diff --id id --output "$data/daff280.txt" "$data/base280.csv" "$data/mod280.csv"
# 4. Keyed merge, 1M rows, 1% edited on each side.
r1=$(repo_merge m1 "$data/base1.csv" "$data/ours1.csv" "$data/theirs1.csv")
measure merge-1M ours "$OX" -C "$r1" merge theirs --keys id
measure merge-1M git git merge-file -p "$data/ours1.csv" "$data/base1.csv" "$data/theirs1.csv"
[[ -x "$DAFF" ]] && measure merge-1M daff "$DAFF" merge --output "$data/daffmerged1.csv" "$data/base1.csv" "$data/ours1.csv" "$data/theirs1.csv"
# 5. df on a committed 1.5M-row table (not checked out): a filter over every row.
measure df-1.5M ours "$OX" -C "$r15" df t.csv --rev HEAD --filter "id == 12345" --json
rm -rf "$data"/repo-*

echo
echo "ratios (ours / peer; < 1 means ours is faster or smaller):"
awk -F'\t' '
  { wall[$1","$2]=$3; rss[$1","$2]=$4; cases[$1]=1 }
  END {
    for (c in cases) for (p in arr) {}
    split("diff-1.5M diff-5M diff-280k merge-1M", order, " ")
    for (i=1;i<=4;i++) { c=order[i]; if (!(c in cases)) continue
      for (j=1;j<=2;j++) { p=(j==1?"git":"daff"); k=c","p
        if ((k in wall) && wall[k]+0>0) printf "%-10s vs %-4s  time %.3f  rss %.3f\n", c, p, wall[c",ours"]/wall[k], rss[c",ours"]/rss[k]
        else if (k in wall) printf "%-10s vs %-4s  peer: %s\n", c, p, wall[k] }
    }
  }' "$results"
