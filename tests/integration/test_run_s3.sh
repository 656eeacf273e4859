#!/usr/bin/env bash
# The whole `cairn run` suite (test_run.sh) again, on the s3:// backend against a
# real Ceph RGW started by tests/s3/rgw: hydrate, sync, leases, fencing, crashes
# at every storage write, eviction and rm, all through S3.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null; then
	skip "s3 run: the cairn run suite on RGW" "Ceph RGW packages are not installed (make deps installs them)"
	exit 0
fi
state=$(mktemp -d /tmp/cairn-run-s3.XXXXXX)
trap '"$REPO/tests/s3/rgw" down --state "$state/rgw" >/dev/null 2>&1; rm -rf "$state"' EXIT
if ! env_lines=$("$REPO/tests/s3/rgw" up --state "$state/rgw" 2>"$state/rgw.err"); then
	fail "s3 run: RGW comes up" "$(tail -3 "$state/rgw.err")"
	exit 1
fi
eval "$env_lines"
export CAIRN_TEST_STORAGE="s3://$CAIRN_S3_BUCKET/run"
export CAIRN_TEST_STORAGE_CONF="S3Endpoint = $CAIRN_S3_ENDPOINT
S3Credentials = $CAIRN_S3_CREDENTIALS"
# Same checks, each name prefixed so the two backends are told apart.
bash "$HERE/test_run.sh" | sed 's/^\(ok\|not ok\|skip\) /\1 s3: /'
