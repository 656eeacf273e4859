#!/usr/bin/env bash
# Leases under contention and failure, with `cairn run` on this machine:
#   a. exactly one winner when 8 runs start at the same moment (LeaseWait = 0);
#   b. a Jepsen-style history check: 60 contended runs append one line each to a
#      log in one volume, with nemeses (SIGSTOP past the TTL, kill -9 mid-command
#      and after the command, aborts before chosen storage writes); a checker reads
#      the volume's state revisions and the final log;
#   c. a holder killed with -9 is taken over within LeaseTTL + LeaseRenew + 2 s.
# Needs root (cairn run mounts). Cleans up every process it starts on any exit.
# LEASE_KEEP=1 keeps the temporary directory (store, outputs) for a post-mortem.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CAIRN=$REPO/build/cairn
USER_=cairntest
TTL=3 RENEW=1 WAIT=120
NCLIENTS=${LEASE_CLIENTS:-60} CONC=${LEASE_CONC:-10} ROUNDS=${LEASE_ROUNDS:-6} RACERS=8
id "$USER_" >/dev/null 2>&1 || useradd -m "$USER_"
ulimit -c 0 # the injected aborts are on purpose
T0=$(date +%s)

T=$(mktemp -d /tmp/cairn-leases.XXXXXX)
chmod 755 "$T"
mkdir -p "$T/work" "$T/a" "$T/c" "$T/k" "$T/m" "$T/bin"
# One binary for the whole run, even if the tree is rebuilt meanwhile.
for i in 1 2 3 4 5; do
	cp "$CAIRN" "$T/bin/cairn" 2>/dev/null && "$T/bin/cairn" run --help >/dev/null 2>&1 && break
	sleep 1
done
CAIRN=$T/bin/cairn
chown "$USER_" "$T/work"
chmod 1777 "$T/m" # markers the commands (as the test user) leave
: >"$T/pids"

# Is PID a `cairn run` of this test (and not a recycled pid)?
ours() {
	tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | grep -qx "CAIRN_CONF=$T/[a-z]*.conf" &&
		tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q "^$CAIRN run "
}
# Processes working in $T: the commands of runs (they may outlive a killed run).
in_T() {
	local d
	for d in /proc/[0-9]*; do
		case $(readlink "$d/cwd" 2>/dev/null) in "$T"/*) echo "${d#/proc/}" ;; esac
	done
}
cleanup() {
	local p
	trap - EXIT INT TERM HUP
	[ -z "${LEASE_KEEP:-}" ] || echo "kept $T" >&2
	exec 2>/dev/null # bash's "Killed" notices
	cd /
	for p in $(jobs -p); do kill -KILL "$p"; done # client shells first
	while read -r p; do
		if ours "$p"; then
			kill -CONT "$p"
			kill -KILL "$p"
		fi
	done <"$T/pids"
	for p in $(in_T); do kill -KILL "$p"; done
	wait
	[ -n "${LEASE_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

conf() { # FILE LEASEWAIT
	cat >"$1" <<CONF
Storage = file://$T/store
CacheDir = $T/cache
StateDir = $T/run
LeaseTTL = $TTL
LeaseRenew = $RENEW
LeaseWait = $2
CONF
}
conf "$T/cairn.conf" "$WAIT"
conf "$T/race.conf" 0
export CAIRN_CONF=$T/cairn.conf
VOLS=$T/store/default/volumes
cd "$T/work" || exit 1

# start_run PREFIX CONF [VAR=VALUE]... -- RUN-ARGS...: `cairn run` in the
# background of the calling shell; pid in PREFIX.pid, output in PREFIX.out/.err
start_run() {
	local p=$1 conf=$2 envs=()
	shift 2
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	env CAIRN_CONF="$conf" "${envs[@]}" "$CAIRN" run --user "$USER_" "$@" >"$p.out" 2>"$p.err" &
	echo $! >"$p.pid"
	echo $! >>"$T/pids"
}
# snooze SECS: sleep without a process (a read that times out on an idle pipe),
# so fine-grained polling stays cheap
exec {SNOOZE_FD}<> <(:)
snooze() { read -rt "$1" -u "$SNOOZE_FD" || :; }
# wait_file FILE SECS [STEP]: 1 if FILE did not appear in time
wait_file() {
	local i n
	n=$(awk -v s="$2" -v d="${3:-0.05}" 'BEGIN { printf "%d", s / d }')
	for ((i = 0; i < n; i++)); do
		[ -e "$1" ] && return 0
		snooze "${3:-0.05}"
	done
	[ -e "$1" ]
}
# wait_grep PATTERN FILE SECS
wait_grep() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q "$1" "$2" 2>/dev/null && return 0
		snooze 0.05
	done
	return 1
}
now() { date +%s.%N; }
# wait_for PID SECS: wait for a child of this shell, killing it if it takes longer
# than SECS (so a hang fails the checks instead of the time limit); its status
wait_for() {
	local i st
	for ((i = 0; i < $2 * 20; i++)); do
		read -r _ _ st _ 2>/dev/null <"/proc/$1/stat" || break
		[ "$st" = Z ] && break
		snooze 0.05
	done
	if read -r _ _ st _ 2>/dev/null <"/proc/$1/stat" && [ "$st" != Z ]; then
		echo "pid $1 still running after $2 s: killed" >&2
		kill -CONT "$1"
		kill -KILL "$1"
	fi
	wait "$1"
}
# alive PID: still running, in $T (not a recycled pid)
alive() { [ -n "$1" ] && case $(readlink "/proc/$1/cwd" 2>/dev/null) in "$T"/*) true ;; *) false ;; esac; }

# The history tool: small queries for the harness and the Jepsen checker.
cat >"$T/hist.py" <<'PY'
"""Reads a volume's state revisions (VOLDIR/state/%012d, JSON).

  hist.py count VOLDIR OP...              revisions whose op is one of OP
  hist.py takeover VOLDIR JOB SECS        wait until someone else than JOB acquires
                                          or takes over; print that job
  hist.py released VOLDIR JOB SECS        wait until JOB's lease ended (release,
                                          or taken over); print the last op
  hist.py check VOLDIR RESULTS LOG        the Jepsen checker (see check())
"""
import json, os, re, sys, time


def revisions(voldir):
    d = os.path.join(voldir, "state")
    out = []
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if not name.isdigit():
            continue
        for _ in range(50):  # a revision is linked in whole; retry a torn read anyway
            try:
                with open(os.path.join(d, name)) as f:
                    r = json.load(f)
                break
            except (OSError, ValueError):
                time.sleep(0.01)
        else:
            raise SystemExit("unreadable revision %s" % name)
        r["_name"] = int(name)
        out.append(r)
    return out


def load_manifest(text):
    """A manifest: format 2 is JSON lines (a header, then one entry per line)."""
    first, _, rest = text.partition("\n")
    head = json.loads(first)
    if head.get("format") == 2:
        head["files"] = [json.loads(l) for l in rest.splitlines() if l.strip()]
        return head
    return json.loads(text)


def latest(voldir):
    d = os.path.join(voldir, "state")
    names = sorted(n for n in os.listdir(d) if n.isdigit()) if os.path.isdir(d) else []
    if not names:
        return None
    with open(os.path.join(d, names[-1])) as f:
        return json.load(f)


def poll(voldir, secs, pred):
    end = time.time() + float(secs)
    while time.time() < end:
        try:
            r = latest(voldir)
        except (OSError, ValueError):
            r = None
        if r is not None:
            v = pred(r)
            if v:
                print(v)
                return 0
        time.sleep(0.05)
    return 1


def holder_job(r):
    return (r.get("holder") or {}).get("job")


def check(voldir, results, logpath):
    revs = revisions(voldir)
    ok = True

    def verdict(name, good, why=""):
        nonlocal ok
        ok &= bool(good)
        print("PASS\t%s" % name if good else "FAIL\t%s\t%s" % (name, why))

    clients = {}
    with open(results) as f:
        for line in f:
            n, pid, rc, kind, refused = line.split()
            clients[int(n)] = dict(job="run" + pid, rc=int(rc), kind=kind,
                                   refused=refused == "1")
    by_job = {c["job"]: n for n, c in clients.items()}
    with open(logpath) as f:
        log = f.read().splitlines()
    counts = {}
    for l in log:
        counts[l] = counts.get(l, 0) + 1

    # The revisions are numbered 1..R without gaps, each holding its own number.
    names = [r["_name"] for r in revs]
    verdict("history: revisions are numbered 1..R and hold their own number",
            names == list(range(1, len(revs) + 1)) and all(r["rev"] == r["_name"] for r in revs),
            "revisions %s" % names[:5] + "..." if names else "no revisions")

    # (i) Every acknowledged client's line is in the final log, exactly once.
    acked = sorted(n for n, c in clients.items() if c["rc"] == 0)
    bad = ["client-%d x%d" % (n, counts.get("client-%d" % n, 0)) for n in acked
           if counts.get("client-%d" % n, 0) != 1]
    verdict("(i) every acknowledged write is in the final version exactly once", not bad,
            "acknowledged but missing or duplicated: " + ", ".join(bad))

    # (iii) Commit epochs strictly increase in revision order.
    commits = [r for r in revs if r.get("op") == "commit"]
    eps = [r["commit_epoch"] for r in commits]
    verdict("(iii) commit epochs strictly increase", all(a < b for a, b in zip(eps, eps[1:])),
            "commit epochs in revision order: %s" % eps)

    # (iv) No commit lands after another holder's acquire: the latest acquire or
    # take-over before each commit is the committing lease (same epoch and nonce).
    bad = []
    last = None
    for r in revs:
        if r.get("op") in ("acquire", "takeover"):
            last = r
        elif r.get("op") == "commit":
            if last is None or last["epoch"] != r["commit_epoch"] or \
               (last.get("holder") or {}).get("nonce") != (r.get("holder") or {}).get("nonce"):
                bad.append("rev %d (commit_epoch %s, last acquire %s)" % (
                    r["rev"], r["commit_epoch"], last and last["rev"]))
    verdict("(iv) every commit is fenced by the latest acquire", not bad, "; ".join(bad))

    # (v) Versions are consecutive 1..N; the final state names version N.
    vs = [r["version"] for r in commits]
    final = revs[-1]["version"] if revs else 0
    verdict("(v) committed versions are 1..N without gaps",
            vs == list(range(1, len(vs) + 1)) and final == len(vs),
            "commit versions %s, final version %s" % (vs, final))

    # Exclusion: an acquire follows a free state, a take-over an expired lease;
    # renewals and commits come from the current holder.
    bad = []
    for prev, r in zip(revs, revs[1:]):
        op, ph = r.get("op"), prev.get("holder")
        h = r.get("holder") or {}
        if op == "acquire" and ph:
            bad.append("rev %d acquires a held volume" % r["rev"])
        elif op == "takeover" and ph and not (r["time"] > ph["expires"] or
                                              (ph["job"] == h.get("job") and ph["node"] == h.get("node"))):
            bad.append("rev %d takes over at %d a lease valid until %d" % (r["rev"], r["time"], ph["expires"]))
        elif op in ("renew", "commit", "release") and not (ph and (op == "release" or ph["nonce"] == h.get("nonce"))):
            bad.append("rev %d: %s without holding the lease" % (r["rev"], op))
        if op in ("acquire", "takeover") and r["epoch"] != prev["epoch"] + 1:
            bad.append("rev %d: epoch %d after %d" % (r["rev"], r["epoch"], prev["epoch"]))
    verdict("history: one holder at a time (acquire free, take over expired, renew/commit as holder)",
            not bad, "; ".join(bad[:5]))

    # (vi) One conflict copy per refused commit, named after the refused job.
    cdir = os.path.join(voldir, "conflicts")
    cnames = sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []
    cjobs = sorted(m.group(1) for m in (re.match(r"\d+-job(.*)-\d+$", c) for c in cnames) if m)
    refused = sorted(c["job"] for c in clients.values() if c["refused"])
    verdict("(vi) conflict copies match the refused commits", len(cnames) == len(refused) and cjobs == refused,
            "%d conflict copies (%s), %d refused (%s)" % (len(cnames), ",".join(cjobs), len(refused), ",".join(refused)))

    # Beyond the brief: a commit that landed survives, acknowledged or not (every
    # run appends to the version it started from), and the log holds nothing else.
    committed = {by_job[holder_job(r)] for r in commits if holder_job(r) in by_job}
    bad = ["client-%d x%d" % (n, counts.get("client-%d" % n, 0)) for n in sorted(committed)
           if counts.get("client-%d" % n, 0) != 1]
    verdict("every landed commit is in the final version exactly once", not bad,
            "committed but missing or duplicated: " + ", ".join(bad))
    junk = [l for l in counts if not re.fullmatch(r"client-\d+", l) or int(l[7:]) not in clients]
    verdict("the final log holds only client lines", not junk, "unexpected lines: %s" % junk[:5])

    # (ii) and notes: reported, never failed.
    present = lambda n: counts.get("client-%d" % n, 0) > 0
    for n in sorted(n for n, c in clients.items() if c["refused"] and present(n)):
        print("NOTE\trefused client-%d's line is in the final log" % n)
    for n in sorted(n for n, c in clients.items() if present(n) and n not in committed):
        print("NOTE\tclient-%d's line is in the log without a commit of its own (%s, exit %d)"
              % (n, clients[n]["kind"], clients[n]["rc"]))
    for n in sorted(committed):
        if clients[n]["rc"] != 0:
            print("NOTE\tclient-%d (%s) committed but was not acknowledged (exit %d)"
                  % (n, clients[n]["kind"], clients[n]["rc"]))
    store = os.path.dirname(os.path.dirname(os.path.dirname(voldir)))
    for c in cnames:
        m = re.match(r"\d+-job(.*)-\d+$", c)
        n = by_job.get(m.group(1)) if m else None
        try:
            with open(os.path.join(cdir, c)) as f:
                man = load_manifest(f.read())
            sha = [e["sha256"] for e in man["files"] if e["path"] == "log"]
            with open(os.path.join(store, man["workspace"], "objects", sha[0][:2], sha[0])) as f:
                lines = f.read().splitlines()
        except (OSError, ValueError, KeyError, IndexError) as e:
            lines = None
        if n is not None and lines is not None and "client-%d" % n not in lines:
            print("NOTE\tconflict copy %s of client-%d lacks its own line (it holds %d lines, "
                  "the last %s)" % (c, n, len(lines), lines[-1] if lines else "none"))

    ops = {}
    for r in revs:
        ops[r.get("op")] = ops.get(r.get("op"), 0) + 1
    crashed = sum(1 for c in clients.values() if c["rc"] >= 128)
    sys.stderr.write(
        "history: %d revisions, %d acquires, %d takeovers, %d renews, %d commits, %d releases, "
        "%d conflicts; %d clients, %d acknowledged, %d refused, %d crashed, %d committed; "
        "final version %d, %d lines\n" % (
            len(revs), ops.get("acquire", 0), ops.get("takeover", 0), ops.get("renew", 0),
            len(commits), ops.get("release", 0), len(cnames), len(clients), len(acked),
            len(refused), crashed, len(committed), final, len(log)))
    return 0 if ok else 1


def main():
    cmd, voldir = sys.argv[1], sys.argv[2]
    if cmd == "count":
        print(sum(1 for r in revisions(voldir) if r.get("op") in sys.argv[3:]))
        return 0
    if cmd == "takeover":
        job = sys.argv[3]
        return poll(voldir, sys.argv[4], lambda r: r.get("op") in ("acquire", "takeover")
                    and holder_job(r) != job and holder_job(r))
    if cmd == "released":
        job = sys.argv[3]
        return poll(voldir, sys.argv[4], lambda r: holder_job(r) != job and r.get("op"))
    if cmd == "check":
        return check(voldir, sys.argv[3], sys.argv[4])
    raise SystemExit("unknown command " + cmd)


sys.exit(main())
PY
hist() { python3 "$T/hist.py" "$@"; }

# ---------------------------------------------------------------- a. one winner
# Each round, 8 runs block on a FIFO; opening it for writing releases them all at
# once. With LeaseWait = 0 the losers give up at once.
race_bad=() msg_bad=() acq_bad=() expect_winners=""
prev_acq=0
for r in $(seq 1 "$ROUNDS"); do
	mkfifo "$T/a/go.$r"
	pids=()
	for i in $(seq 1 $RACERS); do
		(
			touch "$T/a/ready.$r.$i"
			: <"$T/a/go.$r"
			exec env CAIRN_CONF="$T/race.conf" "$CAIRN" run --user "$USER_" --volume race:r -- \
				sh -c "sleep 1; echo r$r-p$i >> r/winners"
		) >"$T/a/$r.$i.out" 2>"$T/a/$r.$i.err" &
		pids[i]=$!
		echo $! >>"$T/pids"
	done
	for i in $(seq 1 $RACERS); do wait_file "$T/a/ready.$r.$i" 20 0.01; done
	exec 9<>"$T/a/go.$r" # a writer: every racer's open returns now
	winners=()
	for i in $(seq 1 $RACERS); do
		wait_for "${pids[i]}" 30
		rc=$?
		if [ $rc = 0 ]; then
			winners+=("p$i")
		elif ! grep -q "volume race is held by job run[0-9]* on " "$T/a/$r.$i.err"; then
			msg_bad+=("round $r racer $i: exit $rc, $(head -c 300 "$T/a/$r.$i.err")")
		fi
	done
	exec 9>&-
	[ ${#winners[@]} = 1 ] || race_bad+=("round $r: ${#winners[@]} winners (${winners[*]})")
	[ ${#winners[@]} = 1 ] && expect_winners+="r$r-${winners[0]} "
	acq=$(hist count "$VOLS/race" acquire takeover)
	[ $((acq - prev_acq)) = 1 ] || acq_bad+=("round $r: $((acq - prev_acq)) acquires")
	prev_acq=$acq
done
check "race: each of $ROUNDS rounds of $RACERS simultaneous runs has exactly one winner" [ ${#race_bad[@]} = 0 ]
[ ${#race_bad[@]} = 0 ] || echo "race: ${race_bad[*]}" >&2
check "race: the losers fail at once with 'volume race is held by job ...'" [ ${#msg_bad[@]} = 0 ]
[ ${#msg_bad[@]} = 0 ] || printf 'race: %s\n' "${msg_bad[@]}" >&2
check "race: the state history shows exactly one acquire per round" [ ${#acq_bad[@]} = 0 ]
[ ${#acq_bad[@]} = 0 ] || echo "race: ${acq_bad[*]}" >&2
got=$("$CAIRN" get race winners - 2>/dev/null | tr '\n' ' ')
check "race: the volume holds exactly the winners' lines, one per round" [ "$got" = "$expect_winners" ]
[ "$got" = "$expect_winners" ] || echo "race: winners file '$got', expected '$expect_winners'" >&2
echo "timing: race done after $(($(date +%s) - T0)) s" >&2

# ---------------------------------------------------------------- b. Jepsen
# Client N appends "client-N" to j/log in volume jepsen, CONC at a time. Nemeses:
STOP_IDLE=7   # SIGSTOP while holding; SIGCONT once every other client is done
STOP_BUSY=20  # SIGSTOP while holding; SIGCONT while the taker runs its command
KILL_RUN=12   # kill -9 during the command
KILL_AFTER=28 # kill -9 just after the command ends (mid-sync or a bit before)
FAULTS=" 40:4 47:5 54:7 " # abort() before storage write N+1: before the commit
#                           state, after it (before its hint), before the release
kind_of() {
	local n=$1 f
	case $n in
	"$STOP_IDLE") echo stop-idle ;;
	"$STOP_BUSY") echo stop-busy ;;
	"$KILL_RUN") echo kill-run ;;
	"$KILL_AFTER") echo kill-after ;;
	*)
		f=$(grep -o " $n:[0-9]*" <<<"$FAULTS")
		if [ -n "$f" ]; then echo "fault-${f#*:}"; else echo normal; fi
		;;
	esac
}
client_of_job() { # JOB -> N (from the pid files)
	local f
	f=$(grep -lx "${1#run}" "$T"/c/*.pid 2>/dev/null | head -1)
	[ -n "$f" ] && basename "$f" .pid
}

jclient() { # N: one client, with its nemesis; writes N.res "N PID RC KIND REFUSED"
	local n=$1 kind p="$T/c/$1" pid rc envs=() cmd taker tn
	kind=$(kind_of "$n")
	# The command leaves a marker once the line is written, then holds a little:
	# 0.3-0.5 s, 1.3 s for every 9th (so renewals happen).
	local hold="0.$((RANDOM % 3 + 3))"
	[ $((n % 9)) = 0 ] && hold=1.3
	cmd="echo client-$n >> j/log; touch $T/m/$n.in; sleep $hold"
	case $kind in
	stop-*) cmd="echo client-$n >> j/log; touch $T/m/$n.in; sleep 0.5" ;;
	kill-run) cmd="echo client-$n >> j/log; echo \$\$ > $T/m/$n.cmd; touch $T/m/$n.in; exec sleep 60" ;;
	kill-after | fault-*) cmd="echo client-$n >> j/log; touch $T/m/$n.in" ;;
	esac
	[[ $kind == fault-* ]] && envs=("CAIRN_FAULT_PUT_ABORT_AFTER=${kind#fault-}")
	start_run "$p" "$T/cairn.conf" "${envs[@]}" -- --volume jepsen:j -- sh -c "$cmd"
	pid=$(cat "$p.pid")
	case $kind in
	stop-*)
		if wait_file "$T/m/$n.in" 150 0.01; then
			kill -STOP "$pid"
			echo "$(now) stopped" >"$p.nem"
			# Held past LeaseTTL + LeaseRenew: wait until another client takes over.
			if taker=$(hist takeover "$VOLS/jepsen" "run$pid" 60); then
				echo "$(now) taken over by $taker" >>"$p.nem"
				if [ "$kind" = stop-idle ]; then
					wait_file "$T/c/others-done" 200 0.1
				else
					tn=$(client_of_job "$taker")
					[ -n "$tn" ] && wait_file "$T/m/$tn.in" 30 0.01
				fi
			fi
			echo "$(now) resumed" >>"$p.nem"
			kill -CONT "$pid"
		fi
		;;
	kill-run)
		wait_file "$T/m/$n.in" 150 0.01 && kill -KILL "$pid"
		;;
	kill-after)
		wait_file "$T/m/$n.in" 150 0.005 && snooze "0.0$((RANDOM % 10))" && kill -KILL "$pid"
		;;
	esac
	wait "$pid"
	rc=$?
	local refused=0
	[ $rc != 0 ] && grep -q 'are kept as conflict copy' "$p.err" && refused=1
	echo "$n $pid $rc $kind $refused" >"$p.res"
}

nres() { local f=("$T"/c/*.res); [ -e "${f[0]}" ] && echo ${#f[@]} || echo 0; }
tb=$(now)
for n in $(seq 1 "$NCLIENTS"); do
	while [ "$(jobs -rp | wc -l)" -ge "$CONC" ]; do wait -n; done
	jclient "$n" 2>"$T/c/$n.sh.err" &
done
# Every client but the idle-stopped one ends by itself.
for ((i = 0; i < 1500; i++)); do
	[ "$(nres)" -ge $((NCLIENTS - 1)) ] && break
	sleep 0.1
done
touch "$T/c/others-done"
for ((i = 0; i < 300; i++)); do
	[ "$(nres)" -ge "$NCLIENTS" ] && break
	sleep 0.1
done
if [ "$(nres)" -lt "$NCLIENTS" ]; then # a hung client: end it, the checks will say
	while read -r p; do
		ours "$p" && kill -CONT "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done <"$T/pids"
fi
wait
echo "timing: $NCLIENTS Jepsen clients in $(awk -v a="$tb" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s" >&2
check "jepsen: all $NCLIENTS clients ended" [ "$(nres)" = "$NCLIENTS" ]
cat "$T"/c/*.res 2>/dev/null | sort -n >"$T/results"
"$CAIRN" get jepsen log - >"$T/final.log" 2>"$T/get.err" || cat "$T/get.err" >&2
check "jepsen: the final version's log can be read" [ -s "$T/final.log" ]

hist check "$VOLS/jepsen" "$T/results" "$T/final.log" >"$T/verdicts"
while IFS=$'\t' read -r v name why; do
	case $v in
	PASS) pass "jepsen: $name" ;;
	FAIL) fail "jepsen: $name" "$why" ;;
	NOTE) echo "jepsen note: $name" >&2 ;;
	esac
done <"$T/verdicts"
vers=$("$CAIRN" show jepsen --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("ok" if s["versions"] == list(range(1, s["version"] + 1)) else "versions %s, version %s" % (s["versions"], s["version"]))')
check "jepsen: cairn show lists versions 1..N" [ "$vers" = ok ]

res() { awk -v n="$1" '$1 == n' "$T/results"; } # N PID RC KIND REFUSED
for n in $STOP_IDLE $STOP_BUSY; do
	read -r _ pid rc kind refused <<<"$(res "$n")"
	nem=$(tr '\n' ';' <"$T/c/$n.nem" 2>/dev/null)
	check "jepsen: client $n ($kind: SIGSTOP past the TTL, taken over) exits non-zero" [ "${rc:-0}" != 0 ]
	check "jepsen: client $n ($kind) leaves a conflict copy" \
		sh -c "ls '$VOLS/jepsen/conflicts' 2>/dev/null | grep -q -- '-jobrun${pid:-x}-'"
	[ "${rc:-0}" != 0 ] && [ "${refused:-0}" = 1 ] ||
		echo "jepsen: client $n ($kind) exit ${rc:-?}, nemesis: $nem; stderr: $(tr '\n' '|' <"$T/c/$n.err")" >&2
	grep -q "taken over by" "$T/c/$n.nem" 2>/dev/null ||
		fail "jepsen: client $n ($kind) was taken over while stopped" "no takeover seen: $nem"
done
read -r _ pid rc kind _ <<<"$(res $KILL_RUN)"
check "jepsen: client $KILL_RUN killed during its command: no exit 0, its line never lands" \
	sh -c "[ '${rc:-0}' != 0 ] && ! grep -qx 'client-$KILL_RUN' '$T/final.log'"
cmd=gone
alive "$(cat "$T/m/$KILL_RUN.cmd" 2>/dev/null)" && cmd="still running: pid $(cat "$T/m/$KILL_RUN.cmd")"
check "jepsen: client $KILL_RUN's command ended with its killed cairn run" [ "$cmd" = gone ]
for f in $FAULTS; do
	n=${f%%:*}
	[ "$n" -le "$NCLIENTS" ] || continue
	read -r _ pid rc kind _ <<<"$(res "$n")"
	echo "jepsen: client $n ($kind) exit ${rc:-?}; line in the log: $(grep -cx "client-$n" "$T/final.log")" >&2
done
ntrees=$(find "$T/cache/default/jepsen" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
echo "jepsen: $ntrees cache trees left under CacheDir/default/jepsen after all clients ended" >&2
echo "timing: Jepsen done after $(($(date +%s) - T0)) s" >&2

# ---------------------------------------------------------------- c. crash recovery
# Holder runs `sleep 60`; a waiter waits; kill -9 the holder at a random point of
# its renewal period and time how long until the waiter's command starts.
bound=$((TTL + RENEW + 2))
deltas=() late=() early=() broken=() orphans=()
for trial in 1 2 3; do
	h="$T/k/h$trial" w="$T/k/w$trial"
	start_run "$h" "$T/cairn.conf" -- --volume crashy:cr -- sh -c "echo \$\$ > $T/m/hcmd$trial; touch $T/m/h$trial; exec sleep 60"
	hpid=$(cat "$h.pid")
	if ! wait_file "$T/m/h$trial" 30 0.01; then
		broken+=("trial $trial: the holder never ran: $(cat "$h.err")")
		continue
	fi
	start_run "$w" "$T/cairn.conf" -- --volume crashy:cr -- sh -c "date +%s.%N > $T/m/w$trial"
	wpid=$(cat "$w.pid")
	if ! wait_grep "volume crashy is in use by job run$hpid" "$w.err" 30; then
		broken+=("trial $trial: the waiter never waited: $(cat "$w.err")")
	fi
	sleep "0.$((RANDOM % 10))"
	kill -KILL "$hpid"
	tk=$(now)
	wait "$hpid" 2>/dev/null
	wait_for "$wpid" 30
	wrc=$?
	if [ $wrc != 0 ] || [ ! -s "$T/m/w$trial" ]; then
		broken+=("trial $trial: the waiter failed (exit $wrc): $(cat "$w.err")")
		continue
	fi
	alive "$(cat "$T/m/hcmd$trial")" && orphans+=("trial $trial: pid $(cat "$T/m/hcmd$trial")")
	d=$(awk -v a="$tk" -v b="$(cat "$T/m/w$trial")" 'BEGIN { printf "%.2f", b - a }')
	deltas+=("$d")
	awk -v d="$d" -v b="$bound" 'BEGIN { exit !(d <= b) }' || late+=("trial $trial: $d s")
	awk -v d="$d" -v t="$TTL" -v r="$RENEW" 'BEGIN { exit !(d >= t - r - 0.5) }' || early+=("trial $trial: $d s")
done
echo "crash recovery: takeover after ${deltas[*]} s (bound $bound s)" >&2
check "crash: a waiter takes over a killed holder's lease (3 trials)" [ ${#broken[@]} = 0 ]
[ ${#broken[@]} = 0 ] || printf 'crash: %s\n' "${broken[@]}" >&2
check "crash: takeover within LeaseTTL + LeaseRenew + 2 s ($bound s)" [ ${#late[@]} = 0 -a ${#deltas[@]} -gt 0 ]
[ ${#late[@]} = 0 ] || echo "crash: late: ${late[*]}" >&2
check "crash: no takeover before the killed holder's lease expired" [ ${#early[@]} = 0 ]
[ ${#early[@]} = 0 ] || echo "crash: early: ${early[*]}" >&2
check "crash: killing cairn run with -9 also ends its command" [ ${#orphans[@]} = 0 ]
[ ${#orphans[@]} = 0 ] || echo "crash: commands still running after their cairn run was killed: ${orphans[*]}" >&2
tk=$(hist count "$VOLS/crashy" takeover)
check "crash: the history shows one takeover per killed holder" [ "$tk" = "${#deltas[@]}" ]
echo "timing: all done after $(($(date +%s) - T0)) s" >&2
finish
