# shellcheck shell=bash
# Source this from a test to get a one-node Slurm test cluster for the test's
# lifetime:
#
#     . "$(dirname "$0")/../lib/cluster-env.sh"
#     cluster_up            # exports SLURM_CONF, CAIRN_CONF, CAIRN_PREFIX, ...
#     ...                   # cluster_down runs on EXIT
#
# Or by hand:  eval "$(tests/cluster up)"; trap 'tests/cluster down' EXIT
#
# Environment read by tests/cluster:
#   CAIRN_TEST_STATE          state directory (default /tmp/cairn-cluster)
#   CAIRN_CLUSTER_NOINSTALL=1 skip `make install` (same as --no-install)
#   CAIRN_CLUSTER_PROLOG / _EPILOG / _SPANK   override the installed programs
#   CAIRN_CLUSTER_CONF_EXTRA  extra lines appended to cairn.conf
#   CAIRN_CLUSTER_PORT        slurmctld port (slurmd uses PORT+1), default 16817

CAIRN_CLUSTER_BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/cluster"

cluster_up() {
	local out
	out="$("$CAIRN_CLUSTER_BIN" up "$@")" || return 1
	eval "$out"
	trap cluster_down EXIT
}

cluster_down() {
	"$CAIRN_CLUSTER_BIN" down ${CAIRN_TEST_STATE:+--state "$CAIRN_TEST_STATE"} || true
}
