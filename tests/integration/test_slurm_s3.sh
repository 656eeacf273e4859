#!/usr/bin/env bash
# The real-Slurm suite (test_slurm.sh) again with the cluster's volumes on the
# s3:// backend: `tests/cluster up --storage s3` starts a Ceph RGW beside Slurm.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null; then
	skip "s3 slurm: the Slurm suite on RGW" "Ceph RGW packages are not installed (make deps installs them)"
	exit 0
fi
export CAIRN_CLUSTER_STORAGE=s3
bash "$HERE/test_slurm.sh" | sed 's/^\(ok\|not ok\|skip\) /\1 s3: /'
