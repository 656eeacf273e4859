#!/usr/bin/env bash
# What the sandbox costs:
#   1. start latency of `cairn run` with no sandbox, --sandbox=pid and --sandbox
#      (full), RUNS runs each, interleaved so that all three share the machine's
#      noise: the wall time of `cairn run ... -- true`, and the time until the
#      command's first instruction (a `true` that prints the time);
#   2. runtime overhead inside the sandbox: a syscall-heavy loop (2,000,000
#      getppid() and 200,000 open+close of /dev/null, timed inside the program)
#      run LOOP_RUNS times via `runuser`, in --sandbox=pid and in --sandbox;
#   3. peak RSS of `cairn run` (/usr/bin/time -f %M, else a getrusage wrapper);
#   4. if Slurm is installed: `srun -n1 true` with and without --sandbox on the
#      one-node test cluster (tests/cluster up --no-install, with the Prolog,
#      Epilog and plugin from build/), SRUN_RUNS runs each, each a new job
#      started on an idle node.
#
#   bench/sandbox_bench.sh [RUNS=40] [LOOP_RUNS=5] [SRUN_RUNS=20]
#
# Needs root, a C compiler and build/ (made with `make all` if build/cairn is
# missing; `make bench` does that first); creates
# the test user cairntest if missing. Uses a temporary cairn.conf with a file://
# store in a temporary directory. CAIRN_BENCH_SLURM=0 skips part 4;
# CAIRN_BENCH_PORT (default 16917) is the test cluster's slurmctld port, chosen
# apart from the tests' default so that a test cluster may run meanwhile.
# Takes about a minute (the Slurm part adds about 30 s).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
RUNS=${1:-40}
LOOP_RUNS=${2:-5}
SRUN_RUNS=${3:-20}
USER_=cairntest
T0=$EPOCHREALTIME

if [ "$(id -u)" != 0 ]; then
	echo "sandbox_bench: skipped: needs root (cairn run and the sandbox need it)"
	exit 0
fi
[ -x build/cairn ] || make -s all
id "$USER_" >/dev/null 2>&1 || useradd -m "$USER_"

T=$(mktemp -d /tmp/cairn-sandbox-bench.XXXXXX)
CLUSTER_STATE=
cleanup() {
	if [ -n "$CLUSTER_STATE" ]; then
		"$REPO/tests/cluster" down --state "$CLUSTER_STATE" >/dev/null 2>&1 || true
		rm -rf "$CLUSTER_STATE"
	fi
	rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"
mkdir "$T/work"
chown "$USER_": "$T/work"
# A copy, so that a rebuild by someone else cannot change the binary mid-run.
cp build/cairn "$T/cairn"
CAIRN=$T/cairn
cat >"$T/cairn.conf" <<CONF
Storage = file://$T/store
CacheDir = $T/cache
StateDir = $T/run
CONF
export CAIRN_CONF=$T/cairn.conf

# ---------------------------------------------------------------- helpers (C)
W=$T/work
cat >"$T/stamp.c" <<'C'
/* A `true` that prints CLOCK_REALTIME in microseconds when it starts. */
#include <stdio.h>
#include <time.h>
int main(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%lld\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	return 0;
}
C
cat >"$T/sysloop.c" <<'C'
/* Syscall-heavy work, timed inside: N1 getppid(), then N2 open+close of /dev/null.
 * Prints: total ms, ns per getppid, us per open+close. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
int main(void)
{
	const long n1 = 2000000, n2 = 200000;
	double a = now();
	for (long i = 0; i < n1; i++)
		syscall(SYS_getppid);
	double b = now();
	for (long i = 0; i < n2; i++) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror("open /dev/null");
			return 1;
		}
		close(fd);
	}
	double c = now();
	printf("%.1f %.1f %.3f\n", (c - a) * 1e3, (b - a) / n1 * 1e9, (c - b) / n2 * 1e6);
	return 0;
}
C
cat >"$T/maxrss.c" <<'C'
/* maxrss CMD...: run CMD, print the peak RSS (KiB) of it and its waited-for children. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	(void)argc;
	pid_t p = fork();
	if (p == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	int st;
	struct rusage ru;
	if (p < 0 || wait4(p, &st, 0, &ru) < 0)
		return 1;
	fprintf(stderr, "%ld\n", ru.ru_maxrss);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
C
CC=${CC:-cc}
$CC -O2 -o "$W/stamp" "$T/stamp.c"
$CC -O2 -o "$W/sysloop" "$T/sysloop.c"
chmod 755 "$W/stamp" "$W/sysloop"
cd "$W"

# Median and p99 (nearest rank; with 40 runs p99 is the maximum) of a file of numbers.
stats() { sort -n "$1" | awk '{ v[NR] = $1 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	r = int(0.99 * NR); if (r < 0.99 * NR) r++
	printf "%.2f %.2f\n", m, v[r] }'; }
median() { stats "$1" | cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
us_since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f\n", (b - a) * 1e6 }'; }

MODES=(none pid full)
mode_args() {
	case $1 in
	none) ;;
	pid) echo --sandbox=pid ;;
	full) echo --sandbox ;;
	esac
}
mode_label() {
	case $1 in
	none) echo "no sandbox" ;;
	pid) echo "--sandbox=pid" ;;
	full) echo "--sandbox (full)" ;;
	esac
}

# Fail early and clearly if the sandbox does not work here.
for m in pid full; do
	# shellcheck disable=SC2046
	if ! err=$("$CAIRN" run --user "$USER_" $(mode_args "$m") -- ./stamp 2>&1 >/dev/null); then
		echo "sandbox_bench: cairn run $(mode_args "$m") fails on this machine: $err" >&2
		exit 1
	fi
done

echo "Sandbox benchmark: $(uname -r), $(nproc) CPUs, $("$CAIRN" --version 2>/dev/null | head -1)"
echo "spec_store_bypass: $(cat /sys/devices/system/cpu/vulnerabilities/spec_store_bypass 2>/dev/null || echo unknown)"
echo

# ---------------------------------------------------------------- 1. start latency
for m in "${MODES[@]}"; do : >"$T/wall.$m" && : >"$T/exec.$m"; done
for ((i = 0; i < RUNS; i++)); do
	for k in 0 1 2; do
		m=${MODES[$(((i + k) % 3))]}
		# shellcheck disable=SC2046
		{
			a=$EPOCHREALTIME
			"$CAIRN" run --user "$USER_" $(mode_args "$m") -- true 2>/dev/null
			us_since "$a" "$EPOCHREALTIME" >>"$T/wall.$m"
			a=$EPOCHREALTIME
			s=$("$CAIRN" run --user "$USER_" $(mode_args "$m") -- ./stamp 2>/dev/null)
			awk -v a="$a" -v s="$s" 'BEGIN { printf "%.0f\n", s - a * 1e6 }' >>"$T/exec.$m"
		}
	done
done
ms() { awk '{ printf "%.3f\n", $1 / 1000 }' "$1" >"$1.ms"; }
for m in "${MODES[@]}"; do
	ms "$T/wall.$m"
	ms "$T/exec.$m"
done
echo "1. cairn run start latency, $RUNS runs per mode, interleaved (ms)"
printf '   %-18s %12s %9s %7s   %14s %9s %7s\n' mode "exec median" "exec p99" ratio "run median" "run p99" ratio
bw=$(median "$T/wall.none.ms")
be=$(median "$T/exec.none.ms")
for m in "${MODES[@]}"; do
	read -r em ep < <(stats "$T/exec.$m.ms")
	read -r wm wp < <(stats "$T/wall.$m.ms")
	printf '   %-18s %12s %9s %7s   %14s %9s %7s\n' "$(mode_label "$m")" "$em" "$ep" "$(ratio "$em" "$be")" \
		"$wm" "$wp" "$(ratio "$wm" "$bw")"
done
echo "   exec: from starting cairn run to the command's first instruction (hydrate, namespaces,"
echo "         mounts, seccomp, setuid, exec). run: the whole 'cairn run ... -- true', which"
echo "         includes cairn run's 100 ms polling of its child (wait_renewing), hence the floor."
echo

# ---------------------------------------------------------------- 2. runtime overhead
for m in "${MODES[@]}"; do : >"$T/loop.$m"; done
for ((i = 0; i < LOOP_RUNS; i++)); do
	for k in 0 1 2; do
		m=${MODES[$(((i + k) % 3))]}
		if [ "$m" = none ]; then
			runuser -u "$USER_" -- ./sysloop >>"$T/loop.$m"
		else
			# shellcheck disable=SC2046
			"$CAIRN" run --user "$USER_" $(mode_args "$m") -- ./sysloop 2>/dev/null >>"$T/loop.$m"
		fi
	done
done
echo "2. syscall loop (2,000,000 getppid + 200,000 open/close of /dev/null), $LOOP_RUNS runs, medians"
printf '   %-18s %10s %7s   %13s %7s   %16s %7s\n' where "total ms" ratio "ns/getppid" ratio "us/open+close" ratio
for m in "${MODES[@]}"; do
	for c in 1 2 3; do cut -d' ' -f$c "$T/loop.$m" >"$T/loop.$m.$c"; done
done
b1=$(median "$T/loop.none.1")
b2=$(median "$T/loop.none.2")
b3=$(median "$T/loop.none.3")
for m in "${MODES[@]}"; do
	m1=$(median "$T/loop.$m.1")
	m2=$(median "$T/loop.$m.2")
	m3=$(median "$T/loop.$m.3")
	label=$(mode_label "$m")
	[ "$m" = none ] && label="runuser (plain)"
	printf '   %-18s %10s %7s   %13s %7s   %16s %7s\n' "$label" "$m1" "$(ratio "$m1" "$b1")" \
		"$m2" "$(ratio "$m2" "$b2")" "$m3" "$(ratio "$m3" "$b3")"
done
echo

# ---------------------------------------------------------------- 3. peak RSS
rss_tool=
if [ -x /usr/bin/time ]; then
	rss_tool="/usr/bin/time -f %M"
elif $CC -O2 -o "$T/maxrss" "$T/maxrss.c" 2>/dev/null; then
	rss_tool=$T/maxrss
fi
if [ -n "$rss_tool" ]; then
	echo "3. peak RSS of cairn run ... -- true (KiB; the largest of cairn and its children, 3 runs, max)"
	for m in "${MODES[@]}"; do
		best=0
		for _ in 1 2 3; do
			# shellcheck disable=SC2046,SC2086
			r=$($rss_tool "$CAIRN" run --user "$USER_" $(mode_args "$m") -- true 2>&1 >/dev/null | tail -1)
			[ "$r" -gt "$best" ] 2>/dev/null && best=$r
		done
		printf '   %-18s %8s\n' "$(mode_label "$m")" "$best"
	done
	echo "   (measured with ${rss_tool%% *})"
else
	echo "3. peak RSS: skipped (no /usr/bin/time, and no C compiler for a getrusage wrapper)"
fi
echo

# ---------------------------------------------------------------- 4. real Slurm
slurm_part() {
	local why=""
	if [ "${CAIRN_BENCH_SLURM:-1}" = 0 ]; then
		why="CAIRN_BENCH_SLURM=0"
	elif ! command -v srun >/dev/null || ! command -v slurmctld >/dev/null ||
		! command -v slurmd >/dev/null; then
		why="Slurm is not installed (make deps installs it)"
	fi
	if [ -n "$why" ]; then
		echo "4. srun start latency: skipped: $why"
		return 0
	fi
	# The programs built by `make all`, copied like build/cairn above; the cluster
	# uses them as they are (--no-install: no second build of a tree others may be
	# editing).
	local p
	mkdir "$T/bin"
	for p in cairn-prolog cairn-epilog spank_cairn.so cairn-srun; do
		if [ ! -f "$REPO/build/$p" ]; then
			echo "4. srun start latency: skipped: build/$p is missing (make all)"
			return 0
		fi
		cp "$REPO/build/$p" "$T/bin/$p"
	done
	CLUSTER_STATE=$(mktemp -d /tmp/cairn-bench-cluster.XXXXXX)
	local env_lines
	if ! env_lines=$(CAIRN_CLUSTER_PORT=${CAIRN_BENCH_PORT:-16917} \
		CAIRN_CLUSTER_PROLOG=$T/bin/cairn-prolog CAIRN_CLUSTER_EPILOG=$T/bin/cairn-epilog \
		CAIRN_CLUSTER_SPANK=$T/bin/spank_cairn.so \
		"$REPO/tests/cluster" up --no-install --state "$CLUSTER_STATE" --clean 2>"$T/cluster.err") ||
		[ "$env_lines" = false ]; then
		echo "4. srun start latency: skipped: the test cluster did not come up:" \
			"$(grep error "$T/cluster.err" | tail -1)"
		return 0
	fi
	eval "$env_lines"
	idle() {
		for _ in $(seq 200); do
			[ -z "$(squeue -h 2>/dev/null)" ] && [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && return 0
			sleep 0.05
		done
		return 1
	}
	local out
	idle || true
	# srun with --sandbox starts a new job: the plugin passes the option through the
	# allocator path to the Prolog, and the task must find cairn-init as its PID 1.
	if ! out=$(runuser -u "$USER_" -- srun -Q -n1 --sandbox cat /proc/1/comm 2>&1) || [ "$out" != cairn-init ]; then
		echo "4. srun start latency: skipped: srun -n1 --sandbox does not give a sandbox: $out"
		return 0
	fi
	for m in "${MODES[@]}"; do : >"$T/srun.$m"; done
	local i k m a
	for ((i = 0; i < SRUN_RUNS; i++)); do
		for k in 0 1 2; do
			m=${MODES[$(((i + k) % 3))]}
			idle || true
			a=$EPOCHREALTIME
			# shellcheck disable=SC2046
			runuser -u "$USER_" -- srun -Q -n1 $(mode_args "$m") true
			us_since "$a" "$EPOCHREALTIME" >>"$T/srun.$m"
		done
	done
	echo "4. srun -n1 true on the one-node test cluster, a new job each time on an idle node,"
	echo "   $SRUN_RUNS runs per mode, interleaved (ms: allocation, Prolog, step launch and run;"
	echo "   the Epilog runs after srun returns and is not included)"
	printf '   %-18s %10s %9s %7s\n' mode median p99 ratio
	for m in "${MODES[@]}"; do ms "$T/srun.$m"; done
	local b mm mp
	b=$(median "$T/srun.none.ms")
	for m in "${MODES[@]}"; do
		read -r mm mp < <(stats "$T/srun.$m.ms")
		printf '   %-18s %10s %9s %7s\n' "$(mode_label "$m")" "$mm" "$mp" "$(ratio "$mm" "$b")"
	done
}
slurm_part
echo
awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "total %.1f s\n", b - a }'
