# shellcheck shell=bash
# Helpers for integration tests against the one-node test cluster (tests/cluster).
# Generic Slurm helpers only: nothing here depends on Cairn's code.
#
#   . "$(dirname "$0")/lib.sh"
#   eval "$(tests/cluster up)"; trap 'tests/cluster down' EXIT   # or cluster_up
#
# Reporting (stdout, one line each, counted by the top-level runner):
#   pass NAME            -> "ok NAME"
#   fail NAME REASON     -> "not ok NAME: REASON"
#   skip NAME REASON     -> "skip NAME: REASON"
#   finish               -> exit status 1 if any fail was reported, else 0
# Jobs:
#   submit_wait USER SCRIPT [sbatch args...] [-- script args...]
#       submit as USER from $SUBMIT_DIR (default: USER's home), wait until the
#       job is over (epilog included) or given up, echo the job id. Returns 0 if
#       the job ended in any state (check it with job_state), 1 if sbatch failed
#       (its stderr is passed through) or the wait timed out.
#   submit USER SCRIPT [sbatch args...] [-- script args...]   same without waiting
#   wait_job JOBID [SECS]        wait until the job is over; 1 on timeout
#   job_state JOBID              COMPLETED, FAILED, RUNNING, ..., REQUEUE_HELD
#                                (a launch failure: prolog failed, job requeued
#                                and held), or UNKNOWN (no such job)
#   job_field JOBID KEY          one field of `scontrol show job -o` (ExitCode, Reason, StdOut...)
#   job_exit_code JOBID          the job's exit status (the N of ExitCode=N:S)
#   job_stdout JOBID             the path of the job's output file
#   cancel_job JOBID
# Node:
#   node_state                   idle, allocated, mixed, idle+drain, idle+completing, down*, ...
#   node_reason                  the drain/down reason, or "none"
#   wait_node_idle [SECS]        wait for "idle" (default 15 s); 1 if it is not
#   assert_node_idle [NAME]      node idle (waits a little)? With NAME, also pass/fail NAME
#   resume_node                  undrain (scontrol update state=resume) and wait for idle
#
# Knobs: SUBMIT_TIMEOUT (seconds a job may take, default 120), SUBMIT_DIR.

: "${SUBMIT_TIMEOUT:=120}"
: "${CAIRN_TEST_NODE:=$(hostname -s)}"
TESTS_FAILED=${TESTS_FAILED:-0}

# ---------------------------------------------------------------- reporting
_one_line() { printf '%s' "$*" | tr '\n' ' ' | sed 's/ *$//'; }
pass() { printf 'ok %s\n' "$(_one_line "$1")"; }
fail() {
	printf 'not ok %s: %s\n' "$(_one_line "$1")" "$(_one_line "${2:-failed}")"
	TESTS_FAILED=$((TESTS_FAILED + 1))
}
skip() { printf 'skip %s: %s\n' "$(_one_line "$1")" "$(_one_line "${2:-skipped}")"; }
finish() { [ "$TESTS_FAILED" -eq 0 ]; }

# `check NAME CMD...`: pass NAME if CMD succeeds, else fail it with CMD's text
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name" "$*"; fi
}

_log() { printf 'lib: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- jobs
_now() { date +%s.%N; }
_older_than() { awk -v a="$1" -v b="$(_now)" -v t="$2" 'BEGIN { exit !(b - a > t) }'; }

# _field TEXT KEY: the value of the first " KEY=value" in TEXT (up to a space)
_field() {
	local re=" $2=([^ ]*)"
	if [[ " $1" =~ $re ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; fi
	return 0
}

# one field of `scontrol show job -o JOBID` (first match), empty if none
job_field() {
	local out
	out="$(scontrol show job -o "$1" 2>/dev/null)" || return 0
	_field "$out" "$2"
}

job_state() {
	local out state reason
	out="$(scontrol show job -o "$1" 2>/dev/null)" || {
		echo UNKNOWN
		return 0
	}
	state="$(_field "$out" JobState)"
	reason="$(_field "$out" Reason)"
	if [ "$state" = PENDING ] && [ "$reason" = launch_failed_requeued_held ]; then
		echo REQUEUE_HELD
	else
		echo "${state:-UNKNOWN}"
	fi
}

job_exit_code() {
	local ec
	ec="$(job_field "$1" ExitCode)"
	echo "${ec%%:*}"
}

job_stdout() { job_field "$1" StdOut; }

cancel_job() { scancel "$1" 2>/dev/null || true; }

_job_over() {
	case $1 in
	COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED | REQUEUE_HELD | UNKNOWN) return 0 ;;
	*) return 1 ;; # PENDING RUNNING CONFIGURING COMPLETING SUSPENDED REQUEUED ...
	esac
}

# Wait until the job is over. COMPLETING (the Epilog still running) is not over:
# `sbatch --wait` returns before the Epilog ends, which is why we poll instead.
wait_job() {
	local id=$1 secs=${2:-$SUBMIT_TIMEOUT} t0 st
	t0="$(_now)"
	while :; do
		st="$(job_state "$id")"
		_job_over "$st" && return 0
		if _older_than "$t0" "$secs"; then
			_log "job $id still $st after ${secs}s"
			return 1
		fi
		sleep 0.2
	done
}

# submit USER SCRIPT [sbatch args...] [-- script args...]: echo the job id
submit() {
	local user=$1 script=$2 dir out id
	shift 2
	local opts=() sargs=()
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then
			shift
			sargs=("$@")
			break
		fi
		opts+=("$1")
		shift
	done
	dir=${SUBMIT_DIR:-$(getent passwd "$user" | cut -d: -f6)}
	[ -d "$dir" ] || {
		_log "no directory $dir to submit from"
		return 1
	}
	out="$(cd "$dir" && timeout 30 runuser -u "$user" -- sbatch --parsable "${opts[@]}" "$script" "${sargs[@]}")" || {
		_log "sbatch failed (user $user, script $script)"
		return 1
	}
	id=${out%%;*}
	[[ $id =~ ^[0-9]+$ ]] || {
		_log "sbatch printed no job id: $out"
		return 1
	}
	echo "$id"
}

submit_wait() {
	local id
	id="$(submit "$@")" || return 1
	echo "$id"
	wait_job "$id"
}

# ---------------------------------------------------------------- node
# From `scontrol show node`, lower-cased: idle, allocated, mixed, idle+drain
# (drained), mixed+drain (draining), idle+completing, down*, ... Not `sinfo -o %T`:
# right after a job sinfo can say "mixed" for seconds while the node is IDLE.
node_state() {
	local out st
	out="$(scontrol show node -o "$CAIRN_TEST_NODE" 2>/dev/null)" || return 0
	st="$(_field "$out" State)"
	printf '%s\n' "${st,,}"
}
node_reason() { sinfo -h -n "$CAIRN_TEST_NODE" -o %E 2>/dev/null || true; }

wait_node_idle() {
	local secs=${1:-15} t0 st
	t0="$(_now)"
	while :; do
		st="$(node_state)"
		[ "$st" = idle ] && return 0
		case $st in *drain* | down* | *fail*) return 1 ;; esac # will not come back alone
		_older_than "$t0" "$secs" && return 1
		sleep 0.2
	done
}

assert_node_idle() {
	local name=${1:-}
	if wait_node_idle 15; then
		[ -z "$name" ] || pass "$name"
		return 0
	fi
	local why
	why="node $CAIRN_TEST_NODE is $(node_state) (reason: $(node_reason))"
	_log "$why"
	[ -z "$name" ] || fail "$name" "$why"
	return 1
}

resume_node() {
	scontrol update nodename="$CAIRN_TEST_NODE" state=resume 2>/dev/null || true
	wait_node_idle 15
}
