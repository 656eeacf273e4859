#!/usr/bin/env bash
# The sandbox, probed from inside as the unprivileged test user, in both ways a
# job gets one: `cairn run --sandbox` and a sandboxed Slurm batch job (one-node
# cluster from tests/cluster). The same probe (sandbox/probe.sh and the syscall
# probe sandbox/probe.c, compiled here) runs in both and prints key=value facts;
# every expectation below is one named check per way ("sandbox(run): ...",
# "sandbox(slurm): ..."), failing when the sandbox leaks.
#
# Host-side fixtures, all removed on exit: a `sleep` of the same user (its pid
# must be unreachable), a TCP server on the host's 127.0.0.1 (python3 -m
# http.server), a UNIX socket server under /run, another user's files in
# /home and /var/tmp, another user's cached volume, markers in /tmp and
# /dev/shm, a SysV shm segment, a setuid-root `id` and a file-capability probe in
# the working directory, a setuid-root `id` planted in a volume's cache tree.
#
# Controls show that the checks can fail: the same probe run as the user on the
# host must flag most of them, run under --sandbox=pid the filter, capability,
# filesystem and network ones, and under SandboxNetwork = host the network ones.
# cgroup limits (SandboxMemory/SandboxPids) are checked with a bounded fork loop
# and a 256 MB allocation when the build knows them, else reported as skipped.
# Needs root. About 20 s (plus building Cairn into a private build dir).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
T_START=$(date +%s.%N)
U=cairntest
U2=cairnother
ulimit -c 0 # the x32/i386 probes are killed with SIGSYS on purpose

# Everything of ours lives in BASE, under /var/tmp rather than /tmp: the sandbox
# hides /tmp wholesale, and Cairn's CacheDir/StateDir/store must be hidden on
# their own merits.
BASE=$(mktemp -d /var/tmp/cairn-sandbox.XXXXXX)
chmod 755 "$BASE"
STATE=$BASE/cluster
export CAIRN_TEST_STATE=$STATE
ID=$$
RUNDIR=/run/cairn-sbx.$ID
OTHER_VARTMP=/var/tmp/cairn-sbx-other.$ID
HOST_TMP_MARK=/tmp/cairn-sbx-mark.$ID
HOST_SHM_MARK=/dev/shm/cairn-sbx-mark.$ID
OTHER_HOME_FILE=""
W=""
SHMID=""
HELPERS=() # pids of host processes we started

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf 'test_sandbox: %s\n' "$*" >&2; }

cleanup() {
	local p
	trap - EXIT INT TERM HUP
	cd /
	for p in "${HELPERS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$REPO/tests/cluster" down --state "$STATE" >/dev/null 2>&1
	[ -n "$SHMID" ] && ipcrm -m "$SHMID" 2>/dev/null
	if [ -n "${SANDBOX_TEST_KEEP:-}" ]; then # for debugging: keep the outputs
		mkdir -p "$SANDBOX_TEST_KEEP"
		cp "$BASE"/*.txt "$BASE"/*.out "$BASE"/*.log "$W"/*/out-*.txt "$SANDBOX_TEST_KEEP"/ 2>/dev/null
	fi
	rm -rf "$BASE" "$RUNDIR" "$OTHER_VARTMP" "$HOST_TMP_MARK" "$HOST_SHM_MARK" \
		/tmp/cairn-inside-"$ID"* /dev/shm/cairn-inside-"$ID"* /usr/cairn-probe-"$ID"*
	[ -n "$OTHER_HOME_FILE" ] && rm -f "$OTHER_HOME_FILE"
	[ -n "$W" ] && rm -rf "$W"
	log "done in $(elapsed "$T_START") s"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------- the cluster
# A port pair of our own: other test clusters may be up on this machine.
port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 20000))
	p=$((p - p % 2))
	if port_free "$p" && port_free $((p + 1)); then
		export CAIRN_CLUSTER_PORT=$p
		break
	fi
done
# Cairn built into a private build dir and prefix: the tree may be edited (and
# rebuilt) while we run. A tree that does not compile right now (an edit in
# progress) gets one more try, then the last build in build/ is used.
t=$(date +%s.%N)
PREFIX=$BASE/prefix
built=0
for _ in 1 2; do
	if make -C "$REPO" -j4 BUILD="$BASE/build" PREFIX="$PREFIX" install >"$BASE/make.log" 2>&1; then
		built=1
		break
	fi
	sleep 3
done
if [ $built = 0 ]; then
	last=$(grep -m1 -E 'error|Error' "$BASE/make.log")
	for f in cairn cairn-prolog cairn-epilog spank_cairn.so cairn-srun; do
		[ -f "$REPO/build/$f" ] || {
			fail "sandbox: Cairn builds" "make failed ($last) and there is no build/$f"
			exit 1
		}
	done
	log "warning: make failed ($last); testing the existing build/ instead"
	install -D -m 0755 "$REPO/build/cairn" "$PREFIX/bin/cairn"
	install -D -m 0755 "$REPO/build/cairn-prolog" "$PREFIX/sbin/cairn-prolog"
	install -D -m 0755 "$REPO/build/cairn-epilog" "$PREFIX/sbin/cairn-epilog"
	install -D -m 0755 "$REPO/build/spank_cairn.so" "$PREFIX/lib/cairn/spank_cairn.so"
	install -D -m 0755 "$REPO/build/cairn-srun" "$PREFIX/lib/cairn/cairn-srun"
fi
log "Cairn built in $(elapsed "$t") s"
# cgroup limits (SandboxMemory, SandboxPids): checked if this build knows them.
LIMIT_LINES=$'SandboxMemory = 64M\nSandboxPids = 32'
printf 'Storage = file://%s/lcheck\nCacheDir = %s/lcheck/c\nStateDir = %s/lcheck/s\n%s\n' \
	"$BASE" "$BASE" "$BASE" "$LIMIT_LINES" >"$BASE/lcheck.conf"
LIMITS=0
CAIRN_CONF=$BASE/lcheck.conf "$PREFIX/bin/cairn" list >/dev/null 2>&1 && LIMITS=1
export CAIRN_CLUSTER_PROLOG=$PREFIX/sbin/cairn-prolog
export CAIRN_CLUSTER_EPILOG=$PREFIX/sbin/cairn-epilog
export CAIRN_CLUSTER_SPANK=$PREFIX/lib/cairn/spank_cairn.so
t=$(date +%s.%N)
if ! env_lines=$("$REPO/tests/cluster" up --state "$STATE" --clean --no-install 2>"$BASE/cluster-up.log"); then
	fail "sandbox: the test cluster comes up" "tests/cluster up failed: $(tail -n 5 "$BASE/cluster-up.log")"
	exit 1
fi
eval "$env_lines"
pass "sandbox: the test cluster comes up"
log "cluster up in $(elapsed "$t") s (port $CAIRN_CLUSTER_PORT)"
CAIRN=$PREFIX/bin/cairn
UID_U=$(id -u "$U")
HOMEDIR=$(getent passwd "$U" | cut -d: -f6)
HOME2=$(getent passwd "$U2" | cut -d: -f6)

# ---------------------------------------------------------------- fixtures
if ! cc -O2 -Wall -o "$BASE/probe" "$HERE/sandbox/probe.c" 2>"$BASE/cc.log"; then
	fail "sandbox: the probe compiles" "$(head -n 5 "$BASE/cc.log")"
	exit 1
fi
chmod 755 "$BASE/probe"

# A process of the same user on the host.
setpriv --reuid="$U" --regid="$(id -g "$U")" --init-groups sleep 1717 &
HOST_PID=$!
HELPERS+=("$HOST_PID")

# A TCP server on the host's loopback, and a UNIX socket server under /run.
mkdir -p "$BASE/www"
/usr/bin/python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$BASE/www" >"$BASE/http.log" 2>&1 &
HELPERS+=($!)
install -d -m 0755 "$RUNDIR"
SOCK=$RUNDIR/sock
/usr/bin/python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' "$SOCK" &
HELPERS+=($!)
PORT=""
for _ in $(seq 1 100); do
	PORT=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$BASE/http.log" | head -n 1)
	[ -n "$PORT" ] && [ -S "$SOCK" ] && break
	sleep 0.05
done
check "sandbox: control: the host's TCP server answers on 127.0.0.1 from the host" \
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/${PORT:-1}"
check "sandbox: control: the host's UNIX socket server answers from the host" \
	runuser -u "$U" -- /usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$SOCK"
OUT_IP=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
: "${OUT_IP:=192.0.2.1}"

# Another user's files: in their home, in /var/tmp.
OTHER_HOME_FILE=$HOME2/cairn-sbx-secret.$ID
echo secret >"$OTHER_HOME_FILE"
chown "$U2": "$OTHER_HOME_FILE"
chmod 0644 "$OTHER_HOME_FILE"
install -d -m 0755 -o "$U2" -g "$(id -g "$U2")" "$OTHER_VARTMP"
echo secret >"$OTHER_VARTMP/secret"
chown "$U2": "$OTHER_VARTMP/secret"
chmod 0644 "$OTHER_VARTMP/secret"
# Markers in the host's /tmp and /dev/shm, a SysV shm segment, a directory the
# user may write on the host.
echo host >"$HOST_TMP_MARK"
echo host >"$HOST_SHM_MARK"
chmod 0644 "$HOST_TMP_MARK" "$HOST_SHM_MARK"
SHMID=$(ipcmk -M 4096 -p 0644 2>/dev/null | sed -n 's/.*: *\([0-9]*\)$/\1/p')
install -d -m 1777 "$BASE/rw"
check "sandbox: control: the host has a SysV shm segment" [ -n "$SHMID" ]

# cairn run's own configuration, beside the cluster's.
RUNCONF=$BASE/run.conf
cat >"$RUNCONF" <<CONF
Storage = file://$BASE/rstore
CacheDir = $BASE/rcache
StateDir = $BASE/rstate
CONF
chmod 0644 "$RUNCONF"

# Another user's volume in each node cache (cairn run against either config).
install -d -m 0755 -o "$U2" -g "$(id -g "$U2")" "$BASE/owork"
other_cache() { # CONF CACHEDIR: the path of the other user's cached file
	(cd "$BASE/owork" && CAIRN_CONF=$1 "$CAIRN" run --user "$U2" --volume othervol:ov -- \
		sh -c 'echo secret > ov/secret; chmod 644 ov/secret') >/dev/null 2>&1
	find "$2" -path '*/othervol/*' -name secret -type f 2>/dev/null | head -n 1
}
OTHER_CACHE_RUN=$(other_cache "$RUNCONF" "$BASE/rcache")
OTHER_CACHE_SLURM=$(other_cache "$CAIRN_CONF" "$STATE/cache")
check "sandbox: control: another user's volume is in the cairn run cache" [ -f "$OTHER_CACHE_RUN" ]
check "sandbox: control: another user's volume is in the cluster's cache" [ -f "$OTHER_CACHE_SLURM" ]

# Working directories in the user's home: the probe, its environment, a
# setuid-root `id` and a copy of the probe with a file capability.
W=$HOMEDIR/cairn-sbx.$ID
install -d -m 0755 -o "$U" -g "$(id -g "$U")" "$W"
setup_wd() { # DIR TAG CACHEDIR STATEDIR STOREDIR OTHER_CACHE_FILE
	local d=$1
	install -d -m 0755 -o "$U" -g "$(id -g "$U")" "$d"
	install -m 0755 "$BASE/probe" "$d/probe"
	install -m 0755 "$HERE/sandbox/probe.sh" "$d/probe.sh"
	install -m 4755 -o root -g root /usr/bin/id "$d/suid-id"
	install -m 0755 "$BASE/probe" "$d/cap-probe"
	setcap cap_dac_read_search+ep "$d/cap-probe" 2>/dev/null
	{
		printf 'TAG=%q\n' "$2"
		printf 'HOST_PID=%q\nPORT=%q\nOUT_IP=%q\nSOCK=%q\n' "$HOST_PID" "$PORT" "$OUT_IP" "$SOCK"
		printf 'CACHE_DIR=%q\nSTATE_DIR=%q\nSTORE_DIR=%q\n' "$3" "$4" "$5"
		printf 'OTHER_HOME_FILE=%q\nOTHER_VARTMP_FILE=%q\nOTHER_CACHE_FILE=%q\n' \
			"$OTHER_HOME_FILE" "$OTHER_VARTMP/secret" "$6"
		printf 'HOST_TMP_MARK=%q\nHOST_SHM_MARK=%q\nHOSTDIR_RW=%q\nVOL=vol\n' \
			"$HOST_TMP_MARK" "$HOST_SHM_MARK" "$BASE/rw"
	} >"$d/probe.env"
	chmod 0644 "$d/probe.env"
	cat >"$d/pidmode.sh" <<'S'
#!/bin/bash
#SBATCH --sandbox=pid
# volume: pidvol pv
. ./probe.env
echo "pid=$$"
echo "init=$(cat /proc/1/comm 2>&1)"
echo "ifaces=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); printf "%s%s", s, $1; s = "," }' /proc/net/dev)"
./probe pidmode "$HOST_PID"
echo "probe-$TAG" >pv/f 2>/dev/null && echo vol_write=ok || echo vol_write=fail
S
	cat >"$d/cancel.sh" <<'S'
#!/bin/bash
# sandbox
# volume: sbx vol
echo "init=$(cat /proc/1/comm 2>&1)"
echo "ifaces=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); printf "%s%s", s, $1; s = "," }' /proc/net/dev)"
echo "seccomp=$(awk '$1 == "Seccomp:" { print $2 }' /proc/self/status)"
echo "suid_vol=$(vol/suid-id -u 2>&1)"
echo "suid_vol_mode=$(stat -c %a vol/suid-id 2>&1)"
# slurmstepd's socket in SlurmdSpoolDir: the job's host PIDs and more
echo "stepd=$(timeout 5 scontrol listpids "$SLURM_JOB_ID" 2>/dev/null | awk 'NR > 1' | wc -l)"
echo ready
sleep 3131
echo not-cancelled
S
	cat >"$d/limits.sh" <<'S'
#!/bin/bash
# sandbox
cg=$(awk -F: '$2 == "pids" { print $3 }' /proc/self/cgroup)
[ -n "$cg" ] || cg=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
echo "cgroup=$cg"
echo "memcg=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)"
procs=/sys/fs/cgroup/cgroup.procs
[ -d /sys/fs/cgroup/pids ] && procs=/sys/fs/cgroup/pids/cgroup.procs
(echo $$ >"$procs") 2>/dev/null && echo cg_escape=moved || echo cg_escape=refused
./probe forks 100
./probe hog 256
echo "hog_rc=$?"
S
	# srun in a full sandbox: the probe as a step, and what the broker refuses.
	cat >"$d/steps.sh" <<'S'
#!/bin/bash
# sandbox
# volume: sbxstep vol
. ./probe.env
echo "batch_job=$SLURM_JOB_ID"
srun ./probe.sh >step-probe.out 2>&1
echo "step_rc=$?"
srun bash -c 'exit 3'
echo "step_exit3=$?"
srun bash -c 'kill -USR1 $$'
echo "step_signal=$?"
for o in "--output=$OTHER_VARTMP_FILE.leak" "--error=$OTHER_VARTMP_FILE.leak" \
	"--input=/etc/hostname" "--chdir=/" "--jobid=1" "--task-prolog=/bin/true" \
	"--bcast=/tmp/x" "--uid=0" "--ntask=1" "-o/tmp/x"; do
	srun "$o" true 2>>refused.err
	echo "refused_rc=$?"
done
srun -n1 true : --output="$OTHER_VARTMP_FILE.leak" true 2>>refused.err
echo "refused_rc=$?"
srun -w "$OTHER_VARTMP_FILE" true 2>>refused.err
echo "refused_rc=$?"
echo "refusals=$(grep -c 'is not available inside the sandbox' refused.err)"
LD_PRELOAD=/nonexistent-$TAG.so GCONV_PATH=/x SLURM_JOB_ID=1 srun -n1 --export=ALL \
	bash -c 'echo "step_env=${LD_PRELOAD:-none}/${GCONV_PATH:-none}/$SLURM_JOB_ID"' 2>/dev/null
echo "step_srun=$(grep -c -a 'srun: cairn:' "$(command -v srun)")"
S
	# A time limit and a signal from Slurm, through the shim and cairn-init.
	cat >"$d/timelimit.sh" <<'S'
#!/bin/bash
#SBATCH --time=0:02
# sandbox
echo started
sleep 3132
echo not-stopped
S
	cat >"$d/signal.sh" <<'S'
#!/bin/bash
# sandbox
trap 'echo got_usr2; exit 0' USR2
echo ready
sleep 3133 &
wait
echo no-signal
S
	# The same, with the job lowering the admin's limits.
	sed 's/^# sandbox$/# sandbox: memory=32M pids=12/; s/hog 256/hog 48/' "$d/limits.sh" >"$d/limits-low.sh"
	chmod 0755 "$d/limits-low.sh"
	chmod 0755 "$d/pidmode.sh" "$d/cancel.sh" "$d/limits.sh" "$d/steps.sh" "$d/timelimit.sh" \
		"$d/signal.sh"
}
WR=$W/run WS=$W/slurm WC=$W/control
setup_wd "$WR" "${ID}r" "$BASE/rcache" "$BASE/rstate" "$BASE/rstore" "$OTHER_CACHE_RUN"
setup_wd "$WS" "${ID}s" "$STATE/cache" "$STATE/run" "$STATE/store" "$OTHER_CACHE_SLURM"
setup_wd "$WC" "${ID}c" "$BASE/rcache" "$BASE/rstate" "$BASE/rstore" "$OTHER_CACHE_RUN"
# A time limit runs while the rest goes on (Slurm counts it in whole minutes
# and checks limits every 30 s): until it ends the node is not idle, but serves
# (not drained, no other job).
jt=$(cd "$WS" && CAIRN_CONF=$STATE/cairn.conf SUBMIT_DIR=$WS submit "$U" timelimit.sh -o "$WS/out-%j.txt")
t_limit=$(date +%s.%N)
assert_node_serves() { # NAME
	local st="" left=""
	for _ in $(seq 1 75); do
		st=$(node_state)
		left=$(squeue -h -o %i 2>/dev/null | grep -vx "$jt" | tr '\n' ' ')
		[[ $st != *drain* && $st != *down* && $st != *fail* && -z $left ]] && break
		sleep 0.2
	done
	if [[ $st != *drain* && $st != *down* && $st != *fail* && -z $left ]]; then
		pass "$1"
	else
		fail "$1" "node $CAIRN_TEST_NODE is $st, jobs left: ${left:-none}"
	fi
}
check "sandbox: control: the file-capability probe reads /etc/shadow on the host" \
	[ "$(runuser -u "$U" -- "$WR/cap-probe" read /etc/shadow)" = ok ]
check "sandbox: control: the setuid-root id gives euid 0 on the host" \
	[ "$(runuser -u "$U" -- "$WR/suid-id" -u)" = 0 ]
check "sandbox: control: the host sleep is alive and the user's" \
	[ "$(stat -c %U "/proc/$HOST_PID" 2>/dev/null)" = "$U" ]

# ---------------------------------------------------------------- expectations
# KEY[,KEY...]|REGEX|NAME: the probe's values of the KEYs (joined with '/') must
# match REGEX entirely.
Z=0000000000000000
EXPECT=(
	"mount_nx|EPERM|mount(2) is refused by the seccomp filter"
	"mount_tmpfs|EPERM|mounting a tmpfs in the working directory fails"
	"remount|EPERM|a read-write remount of / fails"
	"umount2|EPERM/EPERM|umount2 is refused (the /home cover stays)"
	"fsopen|EPERM|fsopen is refused"
	"fsmisc|EPERM/EPERM/EPERM|fsmount, fsconfig and fspick are refused"
	"open_tree|EPERM/EPERM|open_tree is refused, with and without OPEN_TREE_CLONE"
	"move_mount|EPERM|move_mount is refused"
	"mount_setattr|EPERM|mount_setattr is refused"
	"pivot_root,chroot|EPERM/EPERM|pivot_root and chroot are refused"
	"setns|EPERM/EPERM|setns is refused"
	"unshare_user|EPERM|unshare(CLONE_NEWUSER) is refused"
	"unshare_net|EPERM/EPERM|unshare(CLONE_NEWNET) is refused, also with CLONE_NEWUSER"
	"clone_newuser|EPERM|clone(CLONE_NEWUSER) is refused"
	"clone3|ENOSYS|clone3 (with CLONE_NEWUSER) fails with ENOSYS"
	"keys|EPERM/EPERM/EPERM|keyctl, add_key and request_key are refused"
	"bpf|EPERM|bpf is refused"
	"perf_event_open|EPERM|perf_event_open is refused"
	"userfaultfd|EPERM|userfaultfd is refused"
	"io_uring|EPERM/EPERM/EPERM|io_uring_setup, io_uring_enter and io_uring_register are refused"
	"handles|EPERM/EPERM|name_to_handle_at and open_by_handle_at are refused"
	"tty|EPERM/EPERM/(pty|fd0)|TIOCSTI and TIOCLINUX on a controlling pty are refused"
	"x32|killed:SIGSYS|an x32-ABI syscall kills the process (SIGSYS)"
	"i386|killed:SIGSYS|an i386 int 0x80 syscall kills the process (SIGSYS)"
	"host_pid|ESRCH/ESRCH|a host process of the same user cannot be signalled or ptraced"
	"init_access|EACCES/EACCES/EPERM|PID 1's fds and namespaces cannot be opened, nor PID 1 ptraced"
	"fds|0,1,2|only fds 0-2 survive the exec of the task"
	"caps|$Z/$Z/$Z/$Z/$Z|CapInh, CapPrm, CapEff, CapBnd and CapAmb are all 0"
	"no_new_privs|1|NoNewPrivs is 1"
	"seccomp|2|a seccomp filter is loaded"
	"pid|[1-9]|the task's PID is small"
	"init|cairn-init|PID 1 is cairn-init"
	"procs|[1-8]:none|only the job's processes are visible"
	"ifaces|lo|only lo is in /proc/net/dev"
	"sys_net|lo|absent|only lo is in /sys/class/net"
	"lo|up|lo is up"
	"tcp_host|ECONNREFUSED|a TCP server on the host's 127.0.0.1 is not reachable"
	"tcp_out|ENETUNREACH|there is no route out of the sandbox"
	"unix_host|E[A-Z]+|a host UNIX socket server under /run is not reachable"
	"shadow|EACCES|/etc/shadow is unreadable"
	"other_home|ENOENT|another user's world-readable file in their home is invisible"
	"other_vartmp|ENOENT|another user's world-readable file in /var/tmp is invisible"
	"munge|ENOENT:(empty|missing)|the munge key directory is empty"
	"secrets|ssh:(empty|missing),root:(empty|missing)|/etc/ssh and /root are empty"
	"cairn_dirs|cache:(empty|missing),state:(empty|missing),store:(empty|missing)|Cairn's CacheDir, StateDir and store are empty"
	"other_cache|ENOENT|another user's cached volume is invisible"
	"usr_write|EROFS|/usr is read-only"
	"hostdir_write|EROFS|ENOENT|a host directory writable by the user cannot be written"
	"root_mnt|[a-z0-9]+:ro\+nosuid(\+nodev)?|/ is read-only and nosuid"
	"wd_mnt|[a-z0-9]+:rw\+nosuid\+nodev|the working directory is writable, nosuid and nodev"
	"vol_mnt|[a-z0-9]+:rw\+nosuid\+nodev|the volume is writable, nosuid and nodev"
	"tmp|tmpfs:hidden:writable|/tmp is a private writable tmpfs"
	"shm|tmpfs:hidden:writable|/dev/shm is a private writable tmpfs"
	"sysv|0/0/0|the host's SysV IPC objects are invisible"
	"suid_wd|$UID_U|a setuid-root binary in the working directory does not give euid 0"
	"fcaps|EACCES|a file-capability binary cannot read /etc/shadow"
	"wd_write|ok|the working directory is writable"
	"vol_write|ok|the volume is writable"
)
# value FILE KEY[,KEY...]: the (last) values, joined with '/'
value() {
	local f=$1 k v out="" sep=""
	local IFS=,
	for k in $2; do
		v=$(sed -n "s/^$k=//p" "$f" | tail -n 1)
		out+="$sep${v:-<missing>}"
		sep=/
	done
	printf '%s' "$out"
}
# expect_all MODE FILE [quiet]: one check per EXPECT line; quiet: only count
# (and list) the lines that would fail, in FAILED_KEYS.
expect_all() {
	local mode=$1 f=$2 quiet=${3:-} line key re name v
	FAILED_KEYS=()
	for line in "${EXPECT[@]}"; do
		key=${line%%|*}
		name=${line##*|}
		re=${line#*|}
		re=${re%|*}
		v=$(value "$f" "$key")
		if [[ $v =~ ^($re)$ ]]; then
			[ -n "$quiet" ] || pass "sandbox($mode): $name"
		else
			FAILED_KEYS+=("$key")
			[ -n "$quiet" ] || fail "sandbox($mode): $name" "$key=$v (expected $re)"
		fi
	done
}
limit_checks() { # MODE FILE BASE: BASE is the memory cgroup the task started in
	check "sandbox($1): a memory hog is contained (killed at SandboxMemory)" [ "$(value "$2" hog_rc)" = 137 ]
	check "sandbox($1): a fork bomb is contained (fork fails below SandboxPids)" \
		matches "$(value "$2" forks)" '([0-9]|[12][0-9]|3[01]):EAGAIN'
	check "sandbox($1): the task is in a cgroup of Cairn's" matches "$(value "$2" cgroup)" '.*/cairn/.*'
	check "sandbox($1): the task cannot move itself out of its cgroup" [ "$(value "$2" cg_escape)" = refused ]
	if [ -d /sys/fs/cgroup/memory ]; then
		check "sandbox($1): the limits' cgroup lies below the one the task started in (${3:-/})" \
			matches "$(value "$2" memcg)" "${3%/}/cairn/.+"
	else
		skip "sandbox($1): the limits' cgroup lies below the task's own" \
			"no cgroup v1 memory hierarchy: on the unified hierarchy the limits sit at its top"
	fi
}
low_checks() { # MODE FILE: a job that lowered the limits to memory=32M pids=12
	check "sandbox($1): a job's own pids=12 stops a fork bomb below 12" \
		matches "$(value "$2" forks)" '([0-9]|1[01]):EAGAIN'
	check "sandbox($1): a job's own memory=32M (below SandboxMemory = 64M) kills a 48 MB hog" [ "$(value "$2" hog_rc)" = 137 ]
}
running() { pgrep -u "$U" -x -f "$1" >/dev/null; } # CMDLINE: a process of the user
matches() { [[ $1 =~ ^($2)$ ]]; } # VALUE REGEX: all of VALUE matches
show_output() { # FILE: the probe's output, for a failed run
	sed 's/^/  | /' "$1" | head -n 120 >&2
}

# ---------------------------------------------------------------- cairn run
# Control: the same probe run as the user on the host (no cairn at all: even
# cairn run without --sandbox sets NoNewPrivs) must flag most checks.
install -d -m 0755 -o "$U" -g "$(id -g "$U")" "$WC/vol"
(cd "$WC" && runuser -u "$U" -- ./probe.sh >"$BASE/out-control.txt" 2>/dev/null)
expect_all control "$BASE/out-control.txt" quiet
nflag=${#FAILED_KEYS[@]}
ok_anyway=()
for line in "${EXPECT[@]}"; do
	k=${line%%|*}
	[[ " ${FAILED_KEYS[*]} " == *" $k "* ]] || ok_anyway+=("$k")
done
log "control: outside the sandbox $nflag of ${#EXPECT[@]} checks flag a leak; the others hold on the host too: ${ok_anyway[*]}"
check "sandbox: control: outside the sandbox the probe flags at least 40 of its checks" [ "$nflag" -ge 40 ]
check "sandbox: control: the host sleep survived the probe" kill -0 "$HOST_PID"
# Without i386 emulation in the kernel, int 0x80 is a SIGSEGV everywhere: no leak.
if [ "$(value "$BASE/out-control.txt" i386)" = killed:SIGSEGV ]; then
	for i in "${!EXPECT[@]}"; do
		[[ ${EXPECT[$i]} == i386\|* ]] && EXPECT[i]="i386|killed:SIG(SYS|SEGV)|${EXPECT[$i]##*|}"
	done
	ok_anyway+=(i386)
fi

export CAIRN_CONF=$RUNCONF
crun() { # DIR CAIRN-RUN-ARGS...: run as the user in DIR; stdout/stderr in $BASE/last.{out,err}
	local d=$1
	shift
	(cd "$d" && "$CAIRN" run --user "$U" "$@" >"$BASE/last.out" 2>"$BASE/last.err")
}
t=$(date +%s.%N)
crun "$WR" --sandbox --volume sbx:vol -- ./probe.sh
rc=$?
cp "$BASE/last.out" "$BASE/out-run.txt"
cp "$BASE/last.err" "$BASE/err-run.txt"
log "cairn run --sandbox probe in $(elapsed "$t") s"
check "sandbox(run): the probe runs to its end" grep -qx 'probe=end' "$BASE/out-run.txt"
grep -qx 'probe=end' "$BASE/out-run.txt" || {
	show_output "$BASE/out-run.txt"
	sed 's/^/  ! /' "$BASE/err-run.txt" >&2
}
expect_all run "$BASE/out-run.txt"
check "sandbox(run): the exit status 7 of the command is returned" [ "$rc" = 7 ]
check "sandbox(run): a file written in the working directory is on the host" grep -qx "probe-${ID}r" "$WR/wd-written.txt"
check "sandbox(run): a file written in the volume is synced" \
	[ "$("$CAIRN" get sbx written.txt - 2>/dev/null)" = "probe-${ID}r" ]
check "sandbox(run): what the job wrote in /tmp and /dev/shm is not on the host" \
	bash -c "[ ! -e /tmp/cairn-inside-${ID}r ] && [ ! -e /dev/shm/cairn-inside-${ID}r ]"

# Weaker sandboxes must be caught by the checks: the whole probe under
# --sandbox=pid (a PID namespace only), and under SandboxNetwork = host.
# unflagged FILE KEY...: print the KEYs whose check holds on FILE although the
# host (the control run) leaks them; a check that holds on this host anyway
# (no i386 emulation, no route out, ...) cannot tell a weak sandbox apart.
unflagged() {
	local k f=$1 missing=()
	expect_all x "$f" quiet
	shift
	for k in "$@"; do
		[[ " ${ok_anyway[*]} " == *" $k "* ]] && continue
		[[ " ${FAILED_KEYS[*]} " == *" $k "* ]] || missing+=("$k")
	done
	echo "${missing[*]}"
}
crun "$WC" --sandbox=pid --volume ctlpid:vol -- ./probe.sh
cp "$BASE/last.out" "$BASE/out-control-pid.txt"
missing=$(unflagged "$BASE/out-control-pid.txt" mount_nx unshare_user clone3 keys io_uring tty x32 \
	i386 fds caps seccomp ifaces tcp_host tcp_out other_home munge secrets cairn_dirs other_cache \
	usr_write root_mnt tmp shm sysv)
check "sandbox: control: a PID-only sandbox fails the filter, capability, filesystem and network checks" \
	test -z "$missing"
expect_all x "$BASE/out-control-pid.txt" quiet
check "sandbox: control: a PID-only sandbox passes the PID checks" \
	bash -c "[[ ' ${FAILED_KEYS[*]} ' != *' host_pid '* && ' ${FAILED_KEYS[*]} ' != *' init '* && ' ${FAILED_KEYS[*]} ' != *' pid '* ]]"
{ cat "$RUNCONF"; echo "SandboxNetwork = host"; } >"$BASE/hostnet.conf"
CAIRN_CONF=$BASE/hostnet.conf crun "$WC" --sandbox --volume ctlnet:vol -- ./probe.sh
cp "$BASE/last.out" "$BASE/out-control-net.txt"
missing=$(unflagged "$BASE/out-control-net.txt" ifaces tcp_host tcp_out)
check "sandbox: control: SandboxNetwork = host fails the network checks" test -z "$missing"

# A setuid-root binary planted (by root) in the volume's cache tree: hydrate
# cannot strip a bit of a file it does not own, the nosuid mount must hold.
plant() { # CACHEDIR: make the cached sbx/suid-id root's and setuid
	local f
	f=$(find "$1" -path '*/sbx/*' -name suid-id -type f 2>/dev/null | head -n 1)
	[ -n "$f" ] || return 1
	chown root:root "$f" && chmod 4755 "$f"
}
if plant "$BASE/rcache"; then
	# shellcheck disable=SC2016 # expanded inside
	crun "$WR" --sandbox --volume sbx:vol -- sh -c \
		'echo "suid_vol=$(vol/suid-id -u 2>&1)"; echo "suid_vol_mode=$(stat -c %a vol/suid-id 2>&1)"'
	log "run: planted setuid id in the volume: mode $(value "$BASE/last.out" suid_vol_mode) inside"
	check "sandbox(run): a setuid-root binary planted in the volume's cache does not give euid 0" \
		[ "$(value "$BASE/last.out" suid_vol)" = "$UID_U" ]
else
	fail "sandbox(run): a setuid-root binary planted in the volume's cache does not give euid 0" \
		"no sbx/suid-id in the cache (the probe did not copy it)"
fi

# --sandbox=pid: a PID namespace and the volumes, the host's network.
crun "$WR" --sandbox=pid --volume pidvol:pv -- ./pidmode.sh
f=$BASE/last.out
check "sandbox(run): --sandbox=pid: the task's PID is small" matches "$(value "$f" pid)" '[1-9]'
check "sandbox(run): --sandbox=pid: PID 1 is cairn-init" [ "$(value "$f" init)" = cairn-init ]
check "sandbox(run): --sandbox=pid: a host process cannot be signalled or ptraced" [ "$(value "$f" host_pid)" = ESRCH/ESRCH ]
check "sandbox(run): --sandbox=pid: the host's network is kept (more than lo)" matches "$(value "$f" ifaces)" 'lo,.+|.+,lo(,.+)?'
check "sandbox(run): --sandbox=pid: the volume is mounted and writable" [ "$(value "$f" vol_write)" = ok ]

# SIGTERM to cairn run ends the sandboxed command, and nothing is left behind.
(cd "$WR" && exec "$CAIRN" run --user "$U" --sandbox -- sleep 3141) >/dev/null 2>&1 &
crun_pid=$!
HELPERS+=("$crun_pid")
for _ in $(seq 1 100); do pgrep -u "$U" -x -f 'sleep 3141' >/dev/null && break; sleep 0.05; done
check "sandbox(run): a sandboxed sleep is running before SIGTERM" running 'sleep 3141'
t=$(date +%s.%N)
kill -TERM "$crun_pid"
for _ in $(seq 1 100); do kill -0 "$crun_pid" 2>/dev/null || break; sleep 0.05; done
log "run: SIGTERM -> cairn run gone after $(elapsed "$t") s"
check "sandbox(run): SIGTERM ends cairn run --sandbox within 5 s" bash -c "! kill -0 $crun_pid 2>/dev/null"
check "sandbox(run): no process of the sandboxed command is left" bash -c "! pgrep -u $U -x -f 'sleep 3141' >/dev/null"

# Ctrl-C on a terminal goes to the whole process group, the command included:
# cairn run, the shim and cairn-init must not pass it on a second time.
for mode in none --sandbox --sandbox=pid; do
	opt=()
	[ "$mode" = none ] || opt=("$mode")
	out=$(cd "$WR" && python3 "$HERE/sandbox/ctrl_c.py" "$CAIRN" run --user "$U" "${opt[@]}" -- ./probe sigint 2>&1)
	n=$(printf '%s\n' "$out" | grep -o 'sigints=[0-9]*' | cut -d= -f2)
	check "sandbox(run): one Ctrl-C on the terminal reaches the command once ($mode)" [ "$n" = 1 ]
	[ "$n" = 1 ] || printf '%s\n' "$out" | sed 's/^/  | /' >&2
done

if [ $LIMITS = 1 ]; then
	{ cat "$RUNCONF"; printf '%s\n' "$LIMIT_LINES"; } >"$BASE/limits.conf"
	CAIRN_CONF=$BASE/limits.conf crun "$WR" --sandbox -- ./limits.sh
	limit_checks run "$BASE/last.out" "$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)"
	# A job may lower the admin's limits, never raise them.
	CAIRN_CONF=$BASE/limits.conf crun "$WR" --sandbox=memory=32M,pids=12 -- ./limits-low.sh
	low_checks run "$BASE/last.out"
	CAIRN_CONF=$BASE/limits.conf crun "$WR" --sandbox=full,pids=1000 -- true
	check "sandbox(run): --sandbox=full,pids=1000 above SandboxPids = 32 fails with one line naming both" \
		bash -c "[ \$(wc -l <'$BASE/last.err') = 1 ] && grep -q 'pids=1000 is more than this cluster allows (SandboxPids = 32)' '$BASE/last.err'"
else
	skip "sandbox(run): a fork bomb is contained" "cgroup limits not implemented yet"
	skip "sandbox(run): a memory hog is contained" "cgroup limits not implemented yet"
fi

# ---------------------------------------------------------------- Slurm
export CAIRN_CONF=$STATE/cairn.conf
export SUBMIT_DIR=$WS
t=$(date +%s.%N)
j=$(submit_wait "$U" probe.sh -o "$WS/out-%j.txt" --sandbox --volume=sbx:vol)
log "sandboxed Slurm probe job $j in $(elapsed "$t") s"
f=$WS/out-$j.txt
cp "$f" "$BASE/out-slurm.txt" 2>/dev/null || : >"$BASE/out-slurm.txt"
check "sandbox(slurm): the probe runs to its end" grep -qx 'probe=end' "$BASE/out-slurm.txt"
grep -qx 'probe=end' "$BASE/out-slurm.txt" || show_output "$BASE/out-slurm.txt"
expect_all slurm "$BASE/out-slurm.txt"
check "sandbox(slurm): the job's ExitCode is 7:0" [ "$(job_field "$j" ExitCode)" = 7:0 ]
check "sandbox(slurm): a file written in the working directory is on the host" grep -qx "probe-${ID}s" "$WS/wd-written.txt"
check "sandbox(slurm): a file written in the volume is synced" \
	[ "$("$CAIRN" get sbx written.txt - --workspace default 2>/dev/null)" = "probe-${ID}s" ]
check "sandbox(slurm): what the job wrote in /tmp and /dev/shm is not on the host" \
	bash -c "[ ! -e /tmp/cairn-inside-${ID}s ] && [ ! -e /dev/shm/cairn-inside-${ID}s ]"
assert_node_serves "sandbox(slurm): the node serves after the probe job"

# The '# sandbox' annotation, a volume with a planted setuid-root binary, and
# scancel of a sleeping sandboxed job; meanwhile '#SBATCH --sandbox=pid'.
planted=0
plant "$STATE/cache" && planted=1
jb=$(submit "$U" cancel.sh -o "$WS/out-%j.txt")
jc=$(submit "$U" pidmode.sh -o "$WS/out-%j.txt")
fb=$WS/out-$jb.txt
for _ in $(seq 1 300); do grep -qx ready "$fb" 2>/dev/null && break; sleep 0.1; done
check "sandbox(slurm): '# sandbox': the job runs" grep -qx ready "$fb"
check "sandbox(slurm): '# sandbox': PID 1 is cairn-init" [ "$(value "$fb" init)" = cairn-init ]
check "sandbox(slurm): '# sandbox': only lo in the network namespace" [ "$(value "$fb" ifaces)" = lo ]
check "sandbox(slurm): '# sandbox': a seccomp filter is loaded" [ "$(value "$fb" seccomp)" = 2 ]
log "slurm: planted setuid id in the volume ($planted): mode $(value "$fb" suid_vol_mode) inside"
check "sandbox(slurm): a setuid-root binary planted in the volume's cache does not give euid 0" \
	[ "$planted:$(value "$fb" suid_vol)" = "1:$UID_U" ]
check "sandbox(slurm): slurmstepd cannot be reached from inside (scontrol listpids lists nothing)" \
	[ "$(value "$fb" stepd)" = 0 ]
check "sandbox(slurm): the sandboxed job's sleep is running before scancel" running 'sleep 3131'
t=$(date +%s.%N)
scancel "$jb"
for _ in $(seq 1 150); do pgrep -u "$U" -x -f 'sleep 3131' >/dev/null || break; sleep 0.1; done
took=$(elapsed "$t")
wait_job "$jb" 30
log "slurm: scancel -> processes gone after $took s, job $(job_state "$jb") after $(elapsed "$t") s"
check "sandbox(slurm): scancel ends a sleeping sandboxed job's processes within 8 s" \
	bash -c "! pgrep -u $U -x -f 'sleep 3131' >/dev/null && awk -v t=$took 'BEGIN { exit !(t < 8) }'"
check "sandbox(slurm): the cancelled job is CANCELLED" [ "$(job_state "$jb")" = CANCELLED ]
check "sandbox(slurm): the cancelled job's script did not go on" bash -c "! grep -q not-cancelled '$fb'"
wait_job "$jc" 60
fc=$WS/out-$jc.txt
check "sandbox(slurm): #SBATCH --sandbox=pid: the job completes" [ "$(job_state "$jc")" = COMPLETED ]
check "sandbox(slurm): --sandbox=pid: the task's PID is small" matches "$(value "$fc" pid)" '[1-9]'
check "sandbox(slurm): --sandbox=pid: PID 1 is cairn-init" [ "$(value "$fc" init)" = cairn-init ]
check "sandbox(slurm): --sandbox=pid: a host process cannot be signalled or ptraced" [ "$(value "$fc" host_pid)" = ESRCH/ESRCH ]
check "sandbox(slurm): --sandbox=pid: the host's network is kept (more than lo)" matches "$(value "$fc" ifaces)" 'lo,.+|.+,lo(,.+)?'
check "sandbox(slurm): --sandbox=pid: the volume is mounted and writable" [ "$(value "$fc" vol_write)" = ok ]
assert_node_serves "sandbox(slurm): the node serves after scancel"

# A signal sent with scancel --signal to the batch shell reaches its trap.
jg=$(submit "$U" signal.sh -o "$WS/out-%j.txt")
fg=$WS/out-$jg.txt
for _ in $(seq 1 300); do grep -qx ready "$fg" 2>/dev/null && break; sleep 0.1; done
scancel --signal=USR2 --batch "$jg"
wait_job "$jg" 60
check "sandbox(slurm): scancel --signal=USR2 --batch reaches the script's trap" grep -qx got_usr2 "$fg"
check "sandbox(slurm): the signalled job ends as its trap says (COMPLETED, 0:0)" \
	[ "$(job_state "$jg"):$(job_field "$jg" ExitCode)" = COMPLETED:0:0 ]

# srun inside a full sandbox: the real srun runs outside through Cairn's broker,
# for this job only, and each task of the step gets a full sandbox of its own.
js=$(submit_wait "$U" steps.sh -o "$WS/out-%j.txt")
fs=$WS/out-$js.txt
fp=$WS/step-probe.out
check "sandbox(step): srun in a full sandbox runs the probe to its end" grep -qx 'probe=end' "$fp"
grep -qx 'probe=end' "$fp" || { show_output "$fs"; show_output "$fp"; }
expect_all step "$fp"
check "sandbox(step): the step's exit status (7) is srun's" [ "$(value "$fs" step_rc)" = 7 ]
check "sandbox(step): exit 3 of a step is srun's exit status" [ "$(value "$fs" step_exit3)" = 3 ]
check "sandbox(step): a task killed by SIGUSR1 makes srun fail" matches "$(value "$fs" step_signal)" '[1-9][0-9]*'
check "sandbox(step): the batch step saw its own job id" [ "$(value "$fs" batch_job)" = "$js" ]
check "sandbox(step): LD_PRELOAD, GCONV_PATH and SLURM_JOB_ID from inside do not reach srun" \
	[ "$(value "$fs" step_env)" = "none/none/$js" ]
check "sandbox(step): options that open or read files or run programs outside, name another job, or add heterogeneous components (':') are refused" \
	[ "$(sed -n 's/^refused_rc=//p' "$fs" | sort -u | tr '\n' ,)" = "1," ]
check "sandbox(step): each refusal names the option and the cause" [ "$(value "$fs" refusals)" = 12 ]
check "sandbox(step): a refused --output wrote nothing outside" [ ! -e "$OTHER_VARTMP/secret.leak" ]
check "sandbox(step): srun inside is Cairn's client" matches "$(value "$fs" step_srun)" '[1-9][0-9]*'
check "sandbox(step): the job with steps completes" [ "$(job_state "$js")" = COMPLETED ]
assert_node_serves "sandbox(step): the node serves after the job with steps"

if [ $LIMITS = 1 ]; then
	cp "$CAIRN_CONF" "$BASE/cluster-conf.orig"
	printf '%s\n' "$LIMIT_LINES" >>"$CAIRN_CONF"
	jl=$(submit "$U" limits.sh -o "$WS/out-%j.txt")
	jll=$(submit "$U" limits-low.sh -o "$WS/out-%j.txt")
	jlh=$(submit "$U" limits.sh -o "$WS/out-%j.txt" --sandbox=memory=1G)
	wait_job "$jl"
	wait_job "$jll"
	wait_job "$jlh"
	cp "$BASE/cluster-conf.orig" "$CAIRN_CONF"
	limit_checks slurm "$WS/out-$jl.txt" "$(awk -F: '$2 == "memory" { print $3 }' "/proc/$(cat "$STATE/slurmd.pid")/cgroup")"
	low_checks slurm "$WS/out-$jll.txt"
	check "sandbox(slurm): --sandbox=memory=1G above SandboxMemory = 64M fails the job" \
		[ "$(job_state "$jlh")" = FAILED ]
	check "sandbox(slurm): ... with one line in its output naming the option and the limit" \
		grep -q '^cairn: sandbox: memory=1G is more than this cluster allows (SandboxMemory = 64M); ask for 64M or less' "$WS/out-$jlh.txt"
	assert_node_serves "sandbox(slurm): the node serves after the limits job"
else
	skip "sandbox(slurm): a fork bomb is contained" "cgroup limits not implemented yet"
	skip "sandbox(slurm): a memory hog is contained" "cgroup limits not implemented yet"
fi

wait_job "$jt" 150
log "slurm: time limit of 1 min: job $(job_state "$jt") after $(elapsed "$t_limit") s"
ft=$WS/out-$jt.txt
check "sandbox(slurm): a sandboxed job past its time limit is TIMEOUT" [ "$(job_state "$jt")" = TIMEOUT ]
check "sandbox(slurm): the timed-out job was stopped (its script did not go on)" \
	bash -c "grep -qx started '$ft' && ! grep -q not-stopped '$ft' && ! pgrep -u $U -x -f 'sleep 3132' >/dev/null"
assert_node_idle "sandbox(slurm): the node is idle after the time limit"

check "sandbox: the host sleep is still alive (never reached from inside)" kill -0 "$HOST_PID"
finish
