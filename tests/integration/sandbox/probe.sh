#!/bin/bash
# The sandbox probe of tests/integration/test_sandbox.sh: run as the job's user,
# in the job's working directory, by `cairn run --sandbox` and as a sandboxed
# Slurm batch script alike. Prints `key=value` lines; the test decides what is a
# leak. Reads ./probe.env (written by the test) and ends with exit 7, so that the
# exit status is checked too.
#
# probe.env: TAG HOST_PID PORT OUT_IP SOCK CACHE_DIR STATE_DIR STORE_DIR
#            OTHER_HOME_FILE OTHER_VARTMP_FILE OTHER_CACHE_FILE HOST_TMP_MARK
#            HOST_SHM_MARK HOSTDIR_RW VOL
# shellcheck disable=SC1091 # written by the test
. ./probe.env || {
	echo "probe=no probe.env in $PWD"
	exit 99
}
P=./probe
echo "probe=start"
# First, before this shell opens anything: what crossed the exec of the task.
$P fds
$P sys "$HOST_PID" "$PORT" "$OUT_IP" "$SOCK"

st() { awk -v k="$1:" '$1 == k { print $2 }' /proc/self/status; }
echo "caps=$(st CapInh)/$(st CapPrm)/$(st CapEff)/$(st CapBnd)/$(st CapAmb)"
echo "no_new_privs=$(st NoNewPrivs)"
echo "seccomp=$(st Seccomp)"

# Processes: our init, this script and its children only.
echo "pid=$$"
echo "init=$(cat /proc/1/comm 2>&1)"
n=0 host=none
for d in /proc/[0-9]*; do
	c=$(cat "$d/comm" 2>/dev/null) || continue
	n=$((n + 1))
	case $c in
	slurmd | slurmctld | slurmstepd | slurmscriptd | sleep | python* | sshd | process_api | cairn | cairn-prolog | cairn-epilog)
		host=$c ;;
	esac
done
echo "procs=$n:$host"
echo "ps=$(ps -e -o pid=,comm= 2>&1 | tr -s ' ' | tr '\n' ',')"

# Network interfaces (the probe checked lo's flags and connections).
echo "ifaces=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); printf "%s%s", s, $1; s = "," }' /proc/net/dev)"
if [ -d /sys/class/net ]; then
	# shellcheck disable=SC2012 # interface names
	echo "sys_net=$(ls /sys/class/net 2>&1 | tr '\n' ',' | sed 's/,$//')"
else
	echo "sys_net=absent"
fi

# Files that must not be readable or visible.
# empty DIR: missing, empty (listable, nothing in it), listed:..., unlistable
empty() {
	local out
	if [ ! -e "$1" ]; then
		echo missing
	elif out=$(ls -A "$1" 2>/dev/null); then
		if [ -z "$out" ]; then echo empty; else echo "listed:$(printf %s "$out" | tr "\n" , | head -c 60)"; fi
	else
		echo unlistable
	fi
}
echo "shadow=$($P read /etc/shadow)"
echo "other_home=$($P read "$OTHER_HOME_FILE")"
# shellcheck disable=SC2012 # for the log only
echo "home_list=$(ls -A /home 2>&1 | tr '\n' ',')"
echo "other_vartmp=$($P read "$OTHER_VARTMP_FILE")"
echo "munge=$($P read /etc/munge/munge.key):$(empty /etc/munge)"
echo "secrets=ssh:$(empty /etc/ssh),root:$(empty /root)"
echo "cairn_dirs=cache:$(empty "$CACHE_DIR"),state:$(empty "$STATE_DIR"),store:$(empty "$STORE_DIR")"
echo "other_cache=$($P read "$OTHER_CACHE_FILE")"

# Read-only system, writable working directory and volume; mount flags.
echo "usr_write=$($P creat "/usr/cairn-probe-$TAG")"
echo "hostdir_write=$($P creat "$HOSTDIR_RW/probe-$TAG")"
# flags MOUNTPOINT: fstype:ro|rw[+nosuid][+nodev] of the topmost mount there
flags() {
	awk -v m="$1" '$5 == m { o = $6; split($0, a, " - "); split(a[2], b, " "); t = b[1] }
		END {
			if (o == "") { print "none"; exit }
			n = split(o, f, ","); for (i = 1; i <= n; i++) h[f[i]] = 1
			r = h["ro"] ? "ro" : "rw"
			if (h["nosuid"]) r = r "+nosuid"
			if (h["nodev"]) r = r "+nodev"
			print t ":" r
		}' /proc/self/mountinfo
}
echo "root_mnt=$(flags /)"
echo "wd_mnt=$(flags "$PWD")"
echo "vol_mnt=$(flags "$PWD/$VOL")"
priv() { # DIR HOST_MARK: fstype:hidden|visible:writable|readonly
	local w=readonly h=hidden
	[ -e "$2" ] && h=visible
	echo "inside-$TAG" >"$1/cairn-inside-$TAG" 2>/dev/null && w=writable
	echo "$(flags "$1" | cut -d: -f1):$h:$w"
}
echo "tmp=$(priv /tmp "$HOST_TMP_MARK")"
echo "shm=$(priv /dev/shm "$HOST_SHM_MARK")"
echo "sysv=$(($(wc -l </proc/sysvipc/shm) - 1))/$(($(wc -l </proc/sysvipc/msg) - 1))/$(($(wc -l </proc/sysvipc/sem) - 1))"

# Privilege through files: a setuid-root binary and a file-capability binary
# (both planted by root in the working directory).
echo "suid_wd=$(./suid-id -u 2>&1)"
echo "fcaps=$(./cap-probe read /etc/shadow 2>&1)"

# Writes that must work (and reach the host / the volume).
echo "probe-$TAG" >wd-written.txt 2>/dev/null && echo "wd_write=ok" || echo "wd_write=fail"
if echo "probe-$TAG" >"$VOL/written.txt" 2>/dev/null && cp /usr/bin/id "$VOL/suid-id" 2>/dev/null; then
	echo "vol_write=ok"
else
	echo "vol_write=fail"
fi
echo "probe=end"
exit 7
