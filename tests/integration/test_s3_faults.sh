#!/usr/bin/env bash
# `cairn run` on the s3:// backend through a fault-injecting proxy
# (s3faults/proxy.py) between Cairn and a real Ceph RGW (tests/s3/rgw): 5xx
# bursts, 503 SlowDown, 429, connections reset before the answer, after the
# server acted, or in the middle of a body, truncated bodies, slow answers and
# trickled bodies. Whatever happens, a hydrate either gives the job exactly the
# recorded tree or fails with a `cairn` error naming the volume, leaving no
# wrong file under a final name in the cache; a sync either commits the whole
# new version or leaves the whole old one (never a mix), and a run that reports
# success has committed; retries are bounded in time. Data: ~300 small files, a
# few MiB-sized ones, one ~80 MiB file (multipart upload, ranged GETs) and a
# new ~66 MiB file per sync round, empty files and directories, symlinks.
#
# Scenarios: 1. baseline through the proxy in pass mode; 2. hydrates with a
# fresh cache under moderate random faults (one seed per run); 3. 100% 503 on
# GETs, then on PUTs during a sync: clean failures within a bounded time;
# 4. single planned faults in a hydrate where one transient error must not fail
# the run, and an object that is missing; 5. syncs under random faults
# (hydrate in pass mode, the command switches the faults on), each followed by
# a pass-mode look at the volume; 6. a sync whose manifest PUT's or commit's
# answer is lost after the server acted, or whose multipart completion is
# reset, each on a volume of its own.
#
# Knobs: CAIRN_FAULT_SEED (base of all seeds, default 1), CAIRN_FAULT_RUNS
# (hydrate runs, default 6), CAIRN_FAULT_SYNCS (sync runs, default 4),
# CAIRN_FAULT_SCALE (multiplies the random fault rates, default 1),
# CAIRN_FAULT_KEEP=1 (keep the temporary directory, with the proxy's log),
# CAIRN_FAULT_CAIRN (the cairn program to test, default build/cairn).
# Skipped (with the reason) when the Ceph packages are missing.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
. "$HERE/lib.sh"
CAIRN=${CAIRN_FAULT_CAIRN:-$REPO/build/cairn}
USER_=cairntest
VOL=fv
SEED=${CAIRN_FAULT_SEED:-1}
RUNS=${CAIRN_FAULT_RUNS:-6}
SYNCS=${CAIRN_FAULT_SYNCS:-4}
SCALE=${CAIRN_FAULT_SCALE:-1}
RUN_TIMEOUT=120 # seconds a cairn run may take before it counts as hung
N="s3 faults"

for p in radosgw ceph-mon ceph-osd radosgw-admin; do
	if ! command -v "$p" >/dev/null; then
		skip "$N: cairn run through a fault-injecting proxy" "$p not installed (packages ceph-mon ceph-osd radosgw ceph-common: make deps)"
		exit 0
	fi
done
if [ ! -x "$CAIRN" ]; then
	make -s -C "$REPO" all >&2 || {
		fail "$N: build cairn" "make all failed"
		exit 1
	}
fi
id "$USER_" >/dev/null 2>&1 || useradd -m "$USER_"

T=$(mktemp -d /tmp/cairn-s3-faults.XXXXXX)
chmod 755 "$T"
proxy_pid=""
cleanup() {
	if [ -n "$proxy_pid" ]; then
		kill "$proxy_pid" 2>/dev/null
		wait "$proxy_pid" 2>/dev/null
	fi
	"$REPO/tests/s3/rgw" down --state "$T/rgw" >/dev/null 2>&1 || true
	if [ "${CAIRN_FAULT_KEEP:-0}" = 1 ]; then
		echo "# kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s.%N)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
diag() { printf '# %s\n' "$*" >&2; }

# ---------------------------------------------------------------- RGW and proxy
if ! env_lines=$("$REPO/tests/s3/rgw" up --state "$T/rgw" 2>"$T/rgw.err"); then
	fail "$N: RGW comes up" "$(tail -3 "$T/rgw.err")"
	exit 1
fi
eval "$env_lines"
diag "RGW up in $(since "$t_start") s at $CAIRN_S3_ENDPOINT"

# The control file lives in a directory the test user may write, so that a
# command run by cairn can switch the faults on just before the sync.
mkdir -p "$T/ctl" "$T/bin" "$T/logs" "$T/model" "$T/work"
chown "$USER_" "$T/ctl" "$T/work"
CTL=$T/ctl/control.json
echo '{}' >"$CTL"
python3 "$HERE/s3faults/proxy.py" --upstream "${CAIRN_S3_ENDPOINT#http://}" --control "$CTL" \
	--log "$T/proxy.log" >"$T/proxy.port" 2>"$T/proxy.err" &
proxy_pid=$!
for _ in $(seq 1 50); do
	[ -s "$T/proxy.port" ] && break
	sleep 0.1
done
PPORT=$(head -1 "$T/proxy.port" 2>/dev/null)
if [ -z "$PPORT" ]; then
	fail "$N: the fault proxy starts" "$(tail -3 "$T/proxy.err")"
	exit 1
fi
PROXY=http://127.0.0.1:$PPORT

cat >"$T/cairn.conf" <<CONF
Storage = s3://$CAIRN_S3_BUCKET/faults
S3Endpoint = $PROXY
S3Credentials = $CAIRN_S3_CREDENTIALS
S3PathStyle = yes
CacheDir = $T/cache
StateDir = $T/run
LeaseTTL = 6
LeaseRenew = 1
LeaseWait = 40
CONF
export CAIRN_CONF=$T/cairn.conf

# set_faults FILE|-: make FILE (or stdin) the proxy's configuration (atomically)
set_faults() {
	if [ "$1" = - ]; then cat >"$T/ctl/.new"; else cp "$1" "$T/ctl/.new"; fi
	mv -f "$T/ctl/.new" "$CTL"
	sleep 0.05
}
pass_mode() { echo '{}' | set_faults -; }
# stats: the proxy's counters since the last call, as one line of JSON
stats() { curl -s --max-time 5 "$PROXY/__faults/stats?reset=1"; }
stat_sum() { # stat_sum FILE REGEX: sum over FILE's lines (stats JSON) of the
	# counters whose name matches REGEX
	python3 -c 'import json, re, sys
t = 0
for line in open(sys.argv[1]):
    if line.strip():
        t += sum(v for k, v in json.loads(line).items() if re.search(sys.argv[2], k))
print(t)' "$1" "$2"
}

# listing DIR: every entry under DIR, sorted: "d PATH", "l PATH TARGET",
# "f PATH SHA256", "o PATH" (anything else). Run by root and by the test user.
cat >"$T/bin/listing" <<'EOF'
#!/bin/sh
cd "$1" || exit 1
export LC_ALL=C
{
	find . -mindepth 1 -type d -printf 'd %P\n'
	find . -mindepth 1 -type l -printf 'l %P %l\n'
	find . -mindepth 1 ! -type d ! -type l ! -type f -printf 'o %P\n'
	find . -mindepth 1 -type f -print0 | xargs -0 -r sha256sum |
		sed 's#^\([0-9a-f]*\)  \./\(.*\)$#f \2 \1#'
} | sort
EOF
chmod 755 "$T/bin/listing"
listing() { "$T/bin/listing" "$1"; }
TMPNAME='.cairn-hydrate-tmp.'

# crun NAME ARGS...: cairn run as the test user in $T/work, stderr to
# $T/logs/NAME.err; sets RC and SECS. A run killed by the timeout has RC 124.
crun() {
	local name=$1 t0
	shift
	t0=$(now)
	(cd "$T/work" && timeout -k 5 "$RUN_TIMEOUT" "$CAIRN" run --user "$USER_" "$@") \
		2>"$T/logs/$name.err"
	RC=$?
	SECS=$(since "$t0")
}
# version: the volume's current version (pass mode), or "?"
version() {
	"$CAIRN" show "$VOL" --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || echo "?"
}
# fresh_listing OUT: hydrate the volume read-only into an empty cache in pass
# mode and write the listing of what the job sees to OUT; 1 if that failed
fresh_listing() {
	rm -rf "$T/cache" "$T/work/out.list"
	crun verify --volume "$VOL:d:ro" -- sh -c "'$T/bin/listing' d > out.list"
	[ "$RC" = 0 ] && [ -s "$T/work/out.list" ] && mv "$T/work/out.list" "$1"
}
# err_ok FILE: the last line of a failed run's stderr is a cairn error that names
# the volume (as "volume fv" or in an object key ".../volumes/fv/..."), not a
# progress or summary line
err_ok() {
	local last info="^cairn: volume $VOL(: (fetching|uploading): | is in use by |: (version [0-9]+, |synced version |no changes|new and empty))"
	last=$(grep -v '^\s*$' "$1" | tail -1)
	[[ $last =~ ^cairn(\ run)?: ]] && [[ $last =~ (volume\ ${VOL}[:\ ]|/volumes/$VOL/) ]] &&
		! [[ $last =~ $info ]]
}
# bad_stderr FILE: lines no Cairn program printed (crash reports, curl noise)
bad_stderr() { grep -v -E '^cairn(\ run)?: ' "$1"; }
tail_err() { sed 's/^/#   /' "$1" | tail -n "${2:-4}" >&2; }

# ---------------------------------------------------------------- 1. baseline
python3 "$HERE/s3faults/tree.py" base "$T/model/v1" "$SEED" || {
	fail "$N: make the test tree" "tree.py failed"
	exit 1
}
listing "$T/model/v1" >"$T/model/v1.list"
nentries=$(wc -l <"$T/model/v1.list")
pass_mode
stats >/dev/null
crun base --volume "$VOL:d" -- cp -R --preserve=mode,timestamps "$T/model/v1/." d/
check "$N: baseline: a volume of $nentries entries (one of 80 MiB) is created through the proxy" \
	[ "$RC" = 0 -a "$(version)" = 1 ]
[ "$RC" = 0 ] || tail_err "$T/logs/base.err"
diag "baseline sync: $SECS s; requests: $(stats)"
fresh_listing "$T/base.list"
check "$N: baseline: a fresh hydrate through the proxy is byte-identical" \
	cmp -s "$T/base.list" "$T/model/v1.list"
cur=v1 # the model tree of the volume's current version
# Two small volumes for the single-fault checks: fb holds the large file and a
# medium one (their objects are stored already), fs 31 small files.
mkdir -p "$T/model/fb/medium"
ln "$T/model/v1/big.bin" "$T/model/fb/big.bin"
ln "$T/model/v1/medium/m0.bin" "$T/model/fb/medium/m0.bin"
cp -al "$T/model/v1/small/d00" "$T/model/fs"
for m in fb fs; do
	listing "$T/model/$m" >"$T/model/$m.list"
	crun "make-$m" --volume "$m:d" -- cp -R --preserve=mode,timestamps "$T/model/$m/." d/
	[ "$RC" = 0 ] || fail "$N: baseline: volume $m is created" "$(tail -1 "$T/logs/make-$m.err")"
done

# ---------------------------------------------------------------- 2. hydrate under faults
# Moderate rates: every request may get a 5xx (repeated on the next attempt
# half the time), a 429, a reset before the answer, a slow answer; now and then
# everything gets 503 for half a second; PUTs, POSTs and DELETEs may also be
# lost or reset after the server acted; GETs of file contents (objects, and
# packs of small files) may break off mid-body, be truncated or trickle. The
# conditional-write probe's objects and the small GETs (states, manifests) get
# no faults here: scenario 4 covers them.
hydrate_faults() { # SEED
	cat <<EOF
{"seed": $1, "burst": 2, "delay": 0.4, "exclude": "/\\\\.cairn-probe/", "scale": $SCALE,
 "outage": {"p": 0.01, "secs": 0.5},
 "faults": {"*": {"500": 0.015, "502": 0.015, "503": 0.015, "slowdown": 0.015,
                  "429": 0.015, "reset": 0.015, "slow": 0.03},
            "PUT": {"lost": 0.03, "reset_after": 0.03},
            "POST": {"lost": 0.03, "reset_after": 0.03},
            "DELETE": {"lost": 0.03, "reset_after": 0.03}},
 "rules": [{"methods": ["GET"], "match": "/(objects|packs)/",
            "faults": {"reset_mid": 0.15, "truncate": 0.15, "trickle": 0.08}}]}
EOF
}
good=0 wrong="" badmsg="" partial_bad="" hung="" junk="" leftovers=0 repaired=1
killed=""
: >"$T/hydrate.stats"
for i in $(seq 1 "$RUNS"); do
	s=$((SEED * 1000 + 100 + i))
	rm -rf "$T/cache" "$T/work/out.list"
	hydrate_faults "$s" | set_faults -
	crun "hydrate$i" --volume "$VOL:d" -- sh -c "'$T/bin/listing' d > out.list"
	rc=$RC secs=$SECS
	st=$(stats)
	echo "$st" >>"$T/hydrate.stats"
	pass_mode
	[ "$rc" = 124 ] && hung+=" $s"
	[ "$rc" -gt 128 ] && [ "$rc" != 124 ] && killed+=" $s(rc $rc)"
	[ -z "$(bad_stderr "$T/logs/hydrate$i.err")" ] || junk+=" $s"
	if [ -s "$T/work/out.list" ]; then
		# The command ran: the job saw the hydrated tree.
		if cmp -s "$T/work/out.list" "$T/model/v1.list"; then
			good=$((good + 1))
			res=ok
		else
			wrong+=" $s"
			res=WRONG
			diff "$T/model/v1.list" "$T/work/out.list" | head -5 | sed 's/^/#   /' >&2
		fi
	else
		res=failed
		err_ok "$T/logs/hydrate$i.err" || badmsg+=" $s"
		# What the failed hydrate left in the cache: every file under its
		# final name must be the recorded one.
		data=$(find "$T/cache" -mindepth 4 -maxdepth 4 -type d -path "*/$VOL/u*/data" 2>/dev/null | head -1)
		if [ -n "$data" ]; then
			listing "$data" | grep -v -F "$TMPNAME" | grep '^[flo] ' >"$T/partial.list"
			if grep -v -x -F -f "$T/model/v1.list" "$T/partial.list" >"$T/partial.bad"; then
				partial_bad+=" $s"
				head -3 "$T/partial.bad" | sed 's/^/#   wrong in cache: /' >&2
			fi
			n=$(find "$data" -name "$TMPNAME*" | wc -l)
			leftovers=$((leftovers + n))
			# A pass-mode hydrate over what the failed one left is exact.
			rm -f "$T/work/out.list"
			crun "repair$i" --volume "$VOL:d:ro" -- sh -c "'$T/bin/listing' d > out.list"
			if [ "$RC" != 0 ] || ! cmp -s "$T/work/out.list" "$T/model/v1.list"; then
				repaired=0
				diag "run $i (seed $s): the hydrate over the failed run's cache was not exact (rc $RC)"
				tail_err "$T/logs/repair$i.err"
			fi
		fi
	fi
	diag "hydrate run $i (seed $s): $res, rc $rc, $secs s; faults: $st"
	[ "$res" = ok ] || tail_err "$T/logs/hydrate$i.err"
done
diag "hydrate under faults: $good of $RUNS runs succeeded; $leftovers temporary files left by failed runs"
check "$N: hydrate under faults: no run gave the job wrong data" [ -z "$wrong" ]
[ -z "$wrong" ] || diag "wrong data with seeds:$wrong"
check "$N: hydrate under faults: at least one of $RUNS runs succeeded" [ "$good" -ge 1 ]
check "$N: hydrate under faults: each failed run ends with a cairn error naming the volume" [ -z "$badmsg" ]
[ -z "$badmsg" ] || diag "unclear errors with seeds:$badmsg"
check "$N: hydrate under faults: a failed hydrate leaves no wrong file under a final name" [ -z "$partial_bad" ]
check "$N: hydrate under faults: a hydrate over a failed one's cache is exact" [ "$repaired" = 1 ]
check "$N: hydrate under faults: no run hung (each within $RUN_TIMEOUT s)" [ -z "$hung" ]
check "$N: hydrate under faults: no run was killed by a signal" [ -z "$killed" ]
[ -z "$killed" ] || diag "killed by a signal with seeds:$killed"
check "$N: hydrate under faults: nothing but cairn lines on stderr" [ -z "$junk" ]
[ -z "$junk" ] || diag "other stderr lines with seeds:$junk"
injected=$(stat_sum "$T/hydrate.stats" ' (reset_mid|truncate)$')
errs=$(stat_sum "$T/hydrate.stats" ' (50[023]|429|slowdown|reset)$')
check "$N: hydrate under faults: the proxy broke bodies ($injected) and failed requests ($errs)" \
	[ "$injected" -gt 0 -a "$errs" -gt 0 ]
check "$N: hydrate under faults: the volume is still version 1 (no-change syncs commit nothing)" \
	[ "$(version)" = 1 ]

# ---------------------------------------------------------------- 3. heavy faults
# Every GET answered 503: a read-only hydrate and a read-write run (whose
# lease needs GETs) fail within a bounded time, naming the volume and the
# status, and change nothing.
echo '{"seed": 1, "faults": {"GET": {"503": 1.0}}}' | set_faults -
stats >/dev/null
rm -rf "$T/cache"
crun heavy-ro --volume "$VOL:d:ro" -- true
rc_ro=$RC secs_ro=$SECS
crun heavy-rw --volume "$VOL:d" -- true
rc_rw=$RC secs_rw=$SECS
diag "100% GET 503: read-only run rc $rc_ro in $secs_ro s, read-write run rc $rc_rw in $secs_rw s; faults: $(stats)"
pass_mode
for m in ro rw; do
	eval "rc=\$rc_$m secs=\$secs_$m"
	check "$N: 100% 503 on GETs: the $m run fails within 60 s" \
		[ "$rc" != 0 -a "$rc" != 124 -a "${secs%.*}" -lt 60 ]
	err_ok "$T/logs/heavy-$m.err" && grep -q '503' "$T/logs/heavy-$m.err"
	r=$?
	check "$N: 100% 503 on GETs: the $m run's error names the volume and HTTP 503" [ "$r" = 0 ]
	[ "$r" = 0 ] || tail_err "$T/logs/heavy-$m.err"
done

# Every PUT answered 503 from the start of the sync: the sync fails within a
# bounded time naming the volume and the status, the old version stays.
echo '{"seed": 1, "faults": {"PUT": {"503": 1.0}, "POST": {"503": 1.0}}}' >"$T/ctl/putfail.json"
chmod 644 "$T/ctl/putfail.json"
echo "never-committed" >"$T/never.txt"
chmod 644 "$T/never.txt"
oldv=$(version)
crun heavy-put --volume "$VOL:d" -- sh -c \
	"cp '$T/never.txt' d/never.txt && head -c 3000000 /dev/urandom > d/never.bin && cp '$T/ctl/putfail.json' '$T/ctl/.u' && mv -f '$T/ctl/.u' '$CTL'"
rc=$RC secs=$SECS
diag "100% PUT 503 during the sync: rc $rc in $secs s; faults: $(stats)"
pass_mode
check "$N: 100% 503 on PUTs: the sync fails within 60 s" \
	[ "$rc" != 0 -a "$rc" != 124 -a "${secs%.*}" -lt 60 ]
grep -q "^cairn: volume $VOL: sync failed.*503" "$T/logs/heavy-put.err"
r=$?
check "$N: 100% 503 on PUTs: the error says the sync failed, naming the volume and HTTP 503" [ "$r" = 0 ]
[ "$r" = 0 ] || tail_err "$T/logs/heavy-put.err"
fresh_listing "$T/heavy.list"
newv=$(version)
check "$N: 100% 503 on PUTs: the volume keeps the whole old version" \
	[ "$newv" = "$oldv" -a -s "$T/heavy.list" -a "$(cmp -s "$T/heavy.list" "$T/model/$cur.list" && echo same)" = same ]

# ---------------------------------------------------------------- 4. single faults in a hydrate
# One transient error at a place where Cairn must retry rather than fail.
# single NAME VOLUME PLAN: a read-only hydrate of VOLUME (fb, fs) with a fresh
# cache under PLAN (a JSON list of planned faults) must succeed, exact, without
# a word about the fault.
single() {
	local name=$1 vol=$2 plan=$3 out
	printf '{"seed": 1, "plan": %s}\n' "$plan" | set_faults -
	rm -rf "$T/cache" "$T/work/out.list"
	crun "single-$name" --volume "$vol:d:ro" -- sh -c "'$T/bin/listing' d > out.list"
	out=$(stats)
	pass_mode
	diag "single fault $name: rc $RC in $SECS s; faults: $out"
	[ "$RC" = 0 ] && cmp -s "$T/work/out.list" "$T/model/$vol.list" &&
		! grep -q 'If-None-Match' "$T/logs/single-$name.err" && return 0
	tail_err "$T/logs/single-$name.err"
	return 1
}
big_sha=$(awk '$1 == "f" && $2 == "big.bin" { print $3 }' "$T/model/fb.list")
med_sha=$(awk '$1 == "f" && $2 == "medium/m0.bin" { print $3 }' "$T/model/fb.list")
check "$N: one reset mid-body on a single-stream object GET is resumed" \
	single obj-reset fb "[{\"method\": \"GET\", \"match\": \"/objects/../$med_sha\", \"fault\": \"reset_mid\"}]"
t3=$(printf '{"method": "GET", "match": "/objects/../%s", "fault": "truncate"},' "$big_sha" "$big_sha" "$big_sha")
check "$N: three truncated bodies on the large object's ranged GETs are resumed" \
	single big-truncate fb "[${t3%,}]"
check "$N: one reset mid-body on a GET of a pack of small files is resumed" \
	single pack-reset fs '[{"method": "GET", "match": "/packs/", "fault": "reset_mid"}]'
check "$N: two truncated bodies on GETs of a pack of small files are resumed" \
	single pack-truncate fs '[{"method": "GET", "match": "/packs/", "fault": "truncate"}, {"method": "GET", "match": "/packs/", "fault": "truncate"}]'
check "$N: a 503 burst of 3 on the manifest GET is retried" \
	single manifest-503 fs '[{"method": "GET", "match": "/manifests/", "fault": "503"}, {"method": "GET", "match": "/manifests/", "fault": "slowdown"}, {"method": "GET", "match": "/manifests/", "fault": "429"}]'
# A body that breaks off on a small GET (a state revision, a manifest) is a
# connection error like any other: retried, not fatal.
check "$N: one reset mid-body on the manifest GET is retried" \
	single manifest-reset fs '[{"method": "GET", "match": "/manifests/", "fault": "reset_mid"}]'
check "$N: one truncated body on a state GET is retried" \
	single state-truncate fs '[{"method": "GET", "match": "/state/", "fault": "truncate"}]'
# The startup probe of conditional writes PUTs one key twice; a transient 503
# on the second PUT (retried, then 412) is not a server ignoring If-None-Match.
check "$N: a 503 on the conditional-write probe's second PUT is retried, not taken for a server ignoring If-None-Match" \
	single probe-503 fs '[{"method": "PUT", "match": "/\\.cairn-probe/", "fault": "pass"}, {"method": "PUT", "match": "/\\.cairn-probe/", "fault": "503"}]'

# A download that broke off, was resumed, and then met 503 on every retry of
# the rest fails with an error that gives that last cause, not the first break.
printf '{"seed": 1, "plan": [%s]}\n' "$(printf '{"method": "GET", "match": "/objects/../%s", "fault": "%s"},' \
	"$med_sha" reset_mid "$med_sha" 503 "$med_sha" 503 "$med_sha" 503 "$med_sha" 503 "$med_sha" 503 | sed 's/,$//')" |
	set_faults -
rm -rf "$T/cache"
crun stale-error --volume "fb:d:ro" -- true
stats >/dev/null
pass_mode
last=$(grep -v '^\s*$' "$T/logs/stale-error.err" | tail -1)
diag "a resumed download then 5 x 503: rc $RC in $SECS s: $last"
reports_503() { [ "$RC" != 0 ] && [[ $last =~ medium/m0\.bin.*HTTP\ 503 ]]; }
check "$N: a resumed download that then fails on 503 reports HTTP 503, not the first break" reports_503

# An object (or pack) that cannot be fetched (NoSuchKey, not transient) while
# others are in flight fails the hydrate with a cairn error, every time: the
# root side must not die of SIGPIPE writing to the worker that already gave up
# (fixed in c12f351). Three runs, since the crash depended on timing.
plan=$(python3 -c 'import json
get = {"method": "GET", "match": "/(objects|packs)/"}
print(json.dumps([dict(get, fault="pass")] * 5 + [dict(get, fault="404")]))')
bad=""
for i in 1 2 3; do
	printf '{"seed": 1, "plan": %s}\n' "$plan" | set_faults -
	rm -rf "$T/cache"
	crun "missing$i" --volume "$VOL:d:ro" -- true
	stats >/dev/null
	diag "an object answered 404, run $i: rc $RC in $SECS s: $(grep -v '^\s*$' "$T/logs/missing$i.err" | tail -1)"
	if [ "$RC" = 0 ] || [ "$RC" -gt 128 ] || ! err_ok "$T/logs/missing$i.err" ||
		! grep -q 'missing from storage' "$T/logs/missing$i.err"; then
		bad+=" $i(rc $RC)"
	fi
done
pass_mode
check "$N: an object missing from storage fails the hydrate with a cairn error naming it, never a crash (3 runs)" [ -z "$bad" ]
[ -z "$bad" ] || diag "missing object: runs without a clean error:$bad (rc 141: killed by SIGPIPE)"

# ---------------------------------------------------------------- 5. sync under faults
# The command changes the tree, then switches the faults on: the sync (and the
# lease renewals and release) run under them. Then, in pass mode, the volume
# must be exactly the old or the new content, at the matching version.
# Resets after the server stored a write (reset_after) hit manifests and state
# revisions too; scenario 6 also causes them deterministically.
sync_faults() { # SEED
	cat <<EOF
{"seed": $1, "burst": 2, "delay": 0.4, "exclude": "/\\\\.cairn-probe/", "scale": $SCALE,
 "outage": {"p": 0.01, "secs": 0.5},
 "faults": {"*": {"500": 0.015, "502": 0.015, "503": 0.015, "slowdown": 0.015,
                  "429": 0.015, "reset": 0.015, "slow": 0.03},
            "PUT": {"lost": 0.03, "reset_after": 0.03},
            "POST": {"lost": 0.03, "reset_after": 0.03},
            "DELETE": {"lost": 0.03, "reset_after": 0.03}},
 "rules": [{"methods": ["GET"], "match": "/(objects|packs)/",
            "faults": {"reset_mid": 0.15, "truncate": 0.15, "trickle": 0.08}}]}
EOF
}
committed=0 failed_new=0
mixed="" lied="" badsync="" hung="" junk="" killed=""
for k in $(seq 1 "$SYNCS"); do
	s=$((SEED * 1000 + 200 + k))
	oldv=$(version)
	rm -rf "$T/model/r$k"
	python3 "$HERE/s3faults/tree.py" mutate "$T/model/$cur" "$T/model/r$k" "$SEED" "$k" \
		"$T/bin/apply$k.sh" || {
		fail "$N: sync under faults: make round $k's changes" "tree.py mutate failed"
		break
	}
	listing "$T/model/r$k" >"$T/model/r$k.list"
	sync_faults "$s" >"$T/ctl/sync$k.json"
	chmod 644 "$T/ctl/sync$k.json"
	pass_mode
	stats >/dev/null
	crun "sync$k" --volume "$VOL:d" -- sh -c \
		"sh '$T/bin/apply$k.sh' && cp '$T/ctl/sync$k.json' '$T/ctl/.u' && mv -f '$T/ctl/.u' '$CTL'"
	rc=$RC secs=$SECS
	st=$(stats)
	pass_mode
	[ "$rc" = 124 ] && hung+=" $s"
	[ "$rc" -gt 128 ] && [ "$rc" != 124 ] && killed+=" $s(rc $rc)"
	[ -z "$(bad_stderr "$T/logs/sync$k.err")" ] || junk+=" $s"
	newv=$(version)
	if fresh_listing "$T/after$k.list"; then
		if cmp -s "$T/after$k.list" "$T/model/$cur.list" && [ "$newv" = "$oldv" ]; then
			got=old
		elif cmp -s "$T/after$k.list" "$T/model/r$k.list" && [ "$newv" = $((oldv + 1)) ]; then
			got=new
		else
			got=MIXED
			mixed+=" $s"
			diff "$T/model/r$k.list" "$T/after$k.list" | head -6 | sed 's/^/#   /' >&2
		fi
	else
		got=unreadable
		mixed+=" $s"
		tail_err "$T/logs/verify.err"
	fi
	# What `cairn ls` shows at the top level agrees with the tree hydrated.
	if [ "$got" = old ] || [ "$got" = new ]; then
		if [ "$got" = new ]; then m=r$k; else m=$cur; fi
		want=$(awk '{ print $2 }' "$T/model/$m.list" | grep -v / | LC_ALL=C sort)
		have=$("$CAIRN" ls "$VOL" --json 2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin): print(e["name"])' | LC_ALL=C sort)
		if [ "$want" != "$have" ]; then
			mixed+=" $s(ls)"
			diag "round $k: cairn ls disagrees with the hydrated tree"
		fi
	fi
	if [ "$rc" = 0 ]; then
		if [ "$got" = new ] && grep -q "^cairn: volume $VOL: synced version $((oldv + 1))," "$T/logs/sync$k.err"; then
			committed=$((committed + 1))
		else
			lied+=" $s"
		fi
	else
		# The reason follows the colon; a run that never got to sync (a lease
		# or hydrate error) ends with its own cairn error.
		grep -q "^cairn: volume $VOL: sync failed, this job's changes were not committed: ." \
			"$T/logs/sync$k.err" || { err_ok "$T/logs/sync$k.err" &&
			! grep -q 'sync failed' "$T/logs/sync$k.err"; } || badsync+=" $s"
		[ "$got" = new ] && failed_new=$((failed_new + 1))
	fi
	[ "$got" = new ] && cur=r$k
	diag "sync round $k (seed $s): rc $rc, $secs s, volume now $got (version $oldv -> $newv); faults: $st"
	[ "$rc" = 0 ] || tail_err "$T/logs/sync$k.err" 6
done
diag "sync under faults: $committed of $SYNCS runs committed; $failed_new failed runs committed anyway (an answer lost after the commit)"
check "$N: sync under faults: the volume is always exactly the old or the new version" [ -z "$mixed" ]
[ -z "$mixed" ] || diag "mixed or unreadable volume with seeds:$mixed"
check "$N: sync under faults: a run that reports success has committed the new content" [ -z "$lied" ]
check "$N: sync under faults: a failed sync says so, and why, in a cairn line naming the volume" [ -z "$badsync" ]
check "$N: sync under faults: at least one of $SYNCS syncs committed" [ "$committed" -ge 1 ]
check "$N: sync under faults: no run hung (each within $RUN_TIMEOUT s)" [ -z "$hung" ]
check "$N: sync under faults: no run was killed by a signal" [ -z "$killed" ]
check "$N: sync under faults: nothing but cairn lines on stderr" [ -z "$junk" ]
check "$N: sync under faults: versions are numbered without gaps" python3 -c '
import json, subprocess, sys
s = json.loads(subprocess.check_output([sys.argv[1], "show", sys.argv[2], "--json"]))
sys.exit(s["versions"] != list(range(1, s["version"] + 1)))' "$CAIRN" "$VOL"

# After the faults a plain run takes the lease (released, or expired) and commits.
echo "after-faults" >"$T/after.txt"
chmod 644 "$T/after.txt"
oldv=$(version)
crun after --volume "$VOL:d" -- cp "$T/after.txt" d/after.txt
check "$N: after the faults a plain run commits the next version" \
	[ "$RC" = 0 -a "$(version)" = $((oldv + 1)) ]
[ "$RC" = 0 ] || tail_err "$T/logs/after.err"

# ---------------------------------------------------------------- 6. lost answers in a sync
# The server acts on a request, then the connection is reset before its answer
# arrives: the client cannot tell whether the create-only write it retries was
# its own. Each case on a volume of its own (a broken one must not hide the
# others): version 1 holds f = "old"; a run writes f = "new" (and a new 66 MiB
# file for the multipart case) and switches PLAN on just before its sync. One
# such fault must not fail the sync (connection errors are retried), and the
# volume must stay readable and exactly the old or the new version.
head -c $((66 * 1024 * 1024 + 4242)) /dev/urandom >"$T/lost-big.bin"
chmod 644 "$T/lost-big.bin"
big_sum=$(sha256sum <"$T/lost-big.bin" | cut -d' ' -f1)
lost_answer() { # NAME PLAN BIG(0|1) DESCRIPTION
	local name=$1 plan=$2 big=$3 desc=$4 v=lost-$1 cmd rc secs st got f b
	pass_mode
	crun "$name-v1" --volume "$v:d" -- sh -c 'echo old > d/f'
	if [ "$RC" != 0 ]; then
		fail "$N: $desc: the volume stays readable, exactly the old or the new version" "could not create $v"
		tail_err "$T/logs/$name-v1.err"
		return
	fi
	printf '%s\n' "$plan" >"$T/ctl/$name.json"
	chmod 644 "$T/ctl/$name.json"
	cmd="echo new > d/f"
	[ "$big" = 1 ] && cmd+=" && cp '$T/lost-big.bin' d/big"
	stats >/dev/null
	crun "$name-v2" --volume "$v:d" -- sh -c \
		"$cmd && cp '$T/ctl/$name.json' '$T/ctl/.u' && mv -f '$T/ctl/.u' '$CTL'"
	rc=$RC secs=$SECS
	st=$(stats)
	pass_mode
	got=broken
	if "$CAIRN" show "$v" --json >"$T/$name.show" 2>"$T/$name.show.err"; then
		f=$("$CAIRN" get "$v" f - 2>/dev/null)
		b=$("$CAIRN" get "$v" big - 2>/dev/null | sha256sum | cut -d' ' -f1)
		case "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$T/$name.show"):$f" in
		1:old) "$CAIRN" ls "$v" | grep -q ' big$' || got=old ;;
		2:new) [ "$big" = 0 ] || [ "$b" = "$big_sum" ] && got=new ;;
		esac
	fi
	diag "$desc: rc $rc in $secs s, volume $got; faults: $st"
	[ "$rc" = 0 ] || tail_err "$T/logs/$name-v2.err" 2
	[ "$got" = broken ] && tail_err "$T/$name.show.err" 2
	check "$N: $desc: the volume stays readable, exactly the old or the new version" \
		[ "$got" = old -o "$got" = new ]
	check "$N: $desc: the sync is retried and commits" [ "$rc" = 0 -a "$got" = new ]
}
lost_answer manifest '{"plan": [{"method": "PUT", "match": "/manifests/", "fault": "reset_after"}]}' 0 \
	"the manifest PUT's answer lost"
lost_answer commit '{"ordered": true, "plan": [{"method": "PUT", "match": "/manifests/", "fault": "pass"}, {"method": "PUT", "match": "/state/", "fault": "reset_after"}]}' 0 \
	"the commit's answer lost"
lost_answer complete '{"plan": [{"method": "POST", "match": "uploadId=", "fault": "reset"}]}' 1 \
	"a reset on the multipart completion"

kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
proxy_pid=""
diag "proxy errors: $(grep -c -v '^$' "$T/proxy.err") lines; total $(since "$t_start") s"
[ -s "$T/proxy.err" ] && tail_err "$T/proxy.err"
finish
