#!/usr/bin/env bash
# Lease latency on a file:// store in a temporary directory, through the library
# (common/lease.h), without hydrate or sync: acquire+release with no contention,
# then 8 processes contending for one volume. Prints a table and the peak RSS.
#
#   bench/lease_bench.sh [N=500] [PROCS=8] [M=150] [BUDGET_S=25]
#
# Needs build/libcairn.a (built here with make if missing). Runs in < 60 s.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
[ -f build/libcairn.a ] || make -s build/libcairn.a
T=$(mktemp -d /tmp/cairn-lease-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
make -s build/bench/lease_bench >&2
cp build/bench/lease_bench "$T/lease_bench"
mkdir "$T/store"
start=$(date +%s.%N)
"$T/lease_bench" "$T/store" "${1:-500}" "${2:-8}" "${3:-150}" "${4:-25}"
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "total %.1f s\n", b - a }'
