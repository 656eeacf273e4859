#!/usr/bin/env bash
# Cairn's s3:// hydrate and sync against `aws s3 sync`, `rclone sync` and
# `s3cmd sync`: one Ceph RGW on loopback (tests/s3/rgw, with its own state
# directory and free ports), the same random data for every tool, every tool
# timed in the same run, interleaved (the order rotates from run to run),
# medians of RUNS runs:
#   1. cold hydrate of data set A (1000 x 1 MiB + 1 x 256 MiB) into an empty
#      place, a new one for each run: Cairn with a new CacheDir, each peer
#      into a new directory (A's copies are deleted once checked, B's after
#      the scenario);
#      beside it, the server's own limit: curl, 8 GETs at once into /dev/null,
#      and into files;
#   2. cold hydrate of data set B (20,000 x 4 KiB files in 20 directories);
#   3. B with nothing changed: a second `cairn run` on the warm cache (its
#      hydrate, and its sync check at the end) against each peer's second sync
#      down into its copy, and up from its own copy to its own prefix;
#   4. sync (upload) of B after appending a byte to 1% of its files;
#   5. removing B from storage, once (it is gone after): `cairn rm` of its
#      volume (which also collects the contents no other volume names) against
#      each peer deleting its own copy of B (aws s3 rm --recursive, rclone
#      purge, s3cmd del --recursive).
# It also shows, from one run, the first upload of B by each tool.
# Cairn's time is the one its summary line prints ("... in T s": the hydrate or
# the sync alone); the whole `cairn run` (leases, hydrate, command, sync, and
# its 100 ms polling) is shown beside it. A peer's time is its whole command.
# Ratios are fastest peer / Cairn: above 1, Cairn is faster. Peak RSS comes from
# /usr/bin/time -f %M (for cairn run, the largest of it and its children).
# Each timed command starts after a sync(1), so that no tool pays for the
# previous one's writeback.
# Downloads are checked against the source: file count (and bytes, for peers)
# on every run, diff -r on the first. The commands used are printed, then the
# table, then each scenario's target, met or not met: a missed target is not a
# failure; the exit status is 1 only if something broke.
#
#   bench/s3_bench.sh [SCALE=1] [RUNS=3]
#   CAIRN_BENCH_SMALL=1 bench/s3_bench.sh    # SCALE=0.1 RUNS=1: about 2 minutes
#
# SCALE multiplies the file counts and the big file's size (0.1: 100 x 1 MiB +
# 25.6 MiB, and 2,000 x 4 KiB). Full size takes about 20 minutes on 2 CPUs.
# Needs root, the Ceph packages (make deps) and build/cairn (made with
# `make all` if missing; the bench runs a copy). Installs the peers (Debian
# packages awscli, rclone, s3cmd) and time with apt-get if missing; a peer that
# cannot be installed, cannot reach the RGW, or fails or gives wrong data later,
# is left out from then on, with the reason (that is not a failure of the bench).
# The AWS CLI used is Debian's, /usr/bin/aws. Data, Cairn's cache and the peers'
# copies live in a temporary directory under /var/tmp (CAIRN_BENCH_TMP: another
# parent), removed at the end, when the RGW is stopped too. The RGW's memstore
# is sized for the data (CAIRN_RGW_MEMSTORE_BYTES overrides), and each data
# set's bucket is purged after its scenarios.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
T0=$EPOCHREALTIME
umask 022
USER_=cairntest
PEER_NAMES=(aws rclone s3cmd)
if [ "${CAIRN_BENCH_SMALL:-0}" = 1 ]; then
	SCALE=${1:-0.1}
	RUNS=${2:-1}
else
	SCALE=${1:-1}
	RUNS=${2:-3}
fi

log() { printf 's3_bench: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
skip_all() {
	echo "s3_bench: skipped: $*"
	exit 0
}

[[ $SCALE =~ ^[0-9]*\.?[0-9]+$ ]] && awk -v s="$SCALE" 'BEGIN { exit !(s > 0) }' ||
	die "usage: $0 [SCALE>0] [RUNS>=1]"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [SCALE>0] [RUNS>=1]"
[ "$(id -u)" = 0 ] || skip_all "needs root (cairn run needs it)"
for p in ceph-mon ceph-osd radosgw radosgw-admin curl; do
	command -v "$p" >/dev/null || skip_all "$p not found (make deps installs the Ceph RGW packages)"
done

# ---------------------------------------------------------------- sizes
MiB=1048576
scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s + 0.5); print (v < 1 ? 1 : v) }'; }
NA=$(scaled 1000)          # data set A: NA files of 1 MiB ...
BIG=$(scaled $((256 * MiB))) # ... and one file of BIG bytes
NDIRS=20
PER_DIR=$(scaled 1000) # data set B: NDIRS directories of PER_DIR files of 4 KiB
NB=$((NDIRS * PER_DIR))
NCHG=$((NB / 100 > 0 ? NB / 100 : 1)) # 1% of B, changed for scenario 4
if [ -z "${CAIRN_RGW_MEMSTORE_BYTES:-}" ]; then
	# Both copies of A (Cairn's, the peers'), B eight times over (source, Cairn's
	# versions, each peer's prefix), and room to spare.
	CAIRN_RGW_MEMSTORE_BYTES=$(awk -v a=$((NA * MiB + BIG)) -v b=$((NB * 4096)) \
		'BEGIN { v = 2 * a + 8 * b + 1073741824; printf "%.0f\n", (v < 2147483648 ? 2147483648 : v) }')
fi
export CAIRN_RGW_MEMSTORE_BYTES

# ---------------------------------------------------------------- temp dir, cleanup
T=$(mktemp -d "${CAIRN_BENCH_TMP:-/var/tmp}/cairn-s3-bench.XXXXXX")
RGW_STARTED=0
cleanup() {
	local rc=$?
	if [ "$RGW_STARTED" = 1 ]; then
		"$REPO/tests/s3/rgw" down --state "$T/rgw" >/dev/null 2>&1 || log "stopping the RGW failed (state in $T/rgw)"
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
chmod 755 "$T"
mkdir -p "$T/log" "$T/res" "$T/src" "$T/up" "$T/work"
W=$T/work

# ---------------------------------------------------------------- peers
apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$T/log/apt" 2>&1
}

# Installs whatever of awscli, rclone, s3cmd and time is missing; never fails.
install_peers() {
	local missing=() p
	[ -x /usr/bin/aws ] || missing+=(awscli)
	command -v rclone >/dev/null || missing+=(rclone)
	command -v s3cmd >/dev/null || missing+=(s3cmd)
	[ -x /usr/bin/time ] || missing+=(time)
	[ ${#missing[@]} -gt 0 ] || return 0
	log "installing ${missing[*]} with apt-get"
	apt_install "${missing[@]}" && return 0
	apt-get update -q >>"$T/log/apt" 2>&1 || true
	# One at a time, so that one package that fails leaves the others in.
	for p in "${missing[@]}"; do
		apt_install "$p" || log "apt-get install $p failed: $(tail -1 "$T/log/apt")"
	done
}

declare -A PEER_OUT # peer -> why it is left out
peer_bin() {
	case $1 in
	aws) [ -x /usr/bin/aws ] && echo /usr/bin/aws ;;
	*) command -v "$1" ;;
	esac
}
drop_peer() {
	PEER_OUT[$1]=$2
	log "leaving out $1: $2"
}
peer_ok() { [ -z "${PEER_OUT[$1]:-}" ]; }

# Peer configuration files in $T: the keys never go into an argument list.
peer_configs() {
	local ak sk hp=${CAIRN_S3_ENDPOINT#http://}
	ak=$(sed -n 's/^access_key = //p' "$CAIRN_S3_CREDENTIALS")
	sk=$(sed -n 's/^secret_key = //p' "$CAIRN_S3_CREDENTIALS")
	(
		umask 077
		printf '[default]\nregion = us-east-1\n' >"$T/aws.config"
		printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$ak" "$sk" \
			>"$T/aws.credentials"
		printf '[rgw]\ntype = s3\nprovider = Ceph\nendpoint = %s\nregion = us-east-1\n' \
			"$CAIRN_S3_ENDPOINT" >"$T/rclone.conf"
		printf 'access_key_id = %s\nsecret_access_key = %s\n' "$ak" "$sk" >>"$T/rclone.conf"
		printf '[default]\nhost_base = %s\nhost_bucket = %s\nuse_https = False\n' "$hp" "$hp" >"$T/s3cfg"
		printf 'signature_v2 = False\nbucket_location = us-east-1\n' >>"$T/s3cfg"
		printf 'access_key = %s\nsecret_key = %s\n' "$ak" "$sk" >>"$T/s3cfg"
		printf 'user = "%s:%s"\n' "$ak" "$sk" >"$T/curl.conf"
	)
}

# rclone names s3://BUCKET/PREFIX as rgw:BUCKET/PREFIX
rc_path() {
	case $1 in
	s3://*) echo "rgw:${1#s3://}" ;;
	*) echo "$1" ;;
	esac
}

# peer_cmd PEER SRC DST: set CMD to PEER's sync from SRC to DST, each a
# directory or s3://BUCKET/PREFIX (no trailing slash). Default options only.
peer_cmd() {
	case $1 in
	aws) CMD=(env AWS_CONFIG_FILE="$T/aws.config" AWS_SHARED_CREDENTIALS_FILE="$T/aws.credentials"
		/usr/bin/aws --endpoint-url "$CAIRN_S3_ENDPOINT" s3 sync --no-progress --only-show-errors
		"$2/" "$3/") ;;
	# The image's AWS_CA_BUNDLE breaks rclone on plain http.
	rclone) CMD=(env -u AWS_CA_BUNDLE rclone --config "$T/rclone.conf" sync "$(rc_path "$2")" "$(rc_path "$3")") ;;
	s3cmd) CMD=(s3cmd -c "$T/s3cfg" --no-progress sync "$2/" "$3/") ;;
	esac
}

# A listing of the bucket with each peer: leaves out those that fail.
probe_peers() {
	local p
	for p in "${PEER_NAMES[@]}"; do
		peer_ok "$p" || continue
		case $p in
		aws) CMD=(env AWS_CONFIG_FILE="$T/aws.config" AWS_SHARED_CREDENTIALS_FILE="$T/aws.credentials"
			/usr/bin/aws --endpoint-url "$CAIRN_S3_ENDPOINT" s3api head-bucket --bucket "$1") ;;
		rclone) CMD=(env -u AWS_CA_BUNDLE rclone --config "$T/rclone.conf" lsf "rgw:$1") ;;
		s3cmd) CMD=(s3cmd -c "$T/s3cfg" ls "s3://$1/") ;;
		esac
		timeout 120 "${CMD[@]}" >"$T/log/probe.$p" 2>&1 ||
			drop_peer "$p" "cannot list the bucket: $(tail -1 "$T/log/probe.$p")"
	done
}

# ---------------------------------------------------------------- timing, results
TIME=
# timed NAME CMD...: run CMD after a sync(1), output in $T/log/NAME.{out,err};
# sets WALL (seconds) and RSS (peak KiB, or - without /usr/bin/time).
timed() {
	local name=$T/log/$1 a rc=0
	shift
	sync
	a=$EPOCHREALTIME
	if [ -n "$TIME" ]; then
		"$TIME" -f %M -o "$name.rss" "$@" >"$name.out" 2>"$name.err" || rc=$?
	else
		"$@" >"$name.out" 2>"$name.err" || rc=$?
	fi
	WALL=$(awk -v a="$a" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	RSS=-
	[ -z "$TIME" ] || RSS=$(tail -1 "$name.rss")
	return "$rc"
}

rec() { echo "$4" >>"$T/res/$1.$2.$3"; } # rec SCENARIO TOOL METRIC VALUE
# med/maxv SCENARIO TOOL METRIC: the median / maximum recorded, or -
med() {
	local f=$T/res/$1.$2.$3
	[ -s "$f" ] || {
		echo -
		return 0
	}
	sort -n "$f" | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
maxv() {
	local f=$T/res/$1.$2.$3
	if [ -s "$f" ] && grep -qv '^-$' "$f"; then
		grep -v '^-$' "$f" | sort -n | tail -1
	else
		echo -
	fi
}
mib() { # KiB to MiB
	if [ "$1" = - ]; then echo -; else awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi
}
ratio() { # ratio A B: A / B
	if [ "$1" = - ] || [ "$2" = - ]; then
		echo -
	else
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
	fi
}

# cmd_note LABEL CMD...: remember the first command line used for LABEL
cmd_note() {
	local label=$1 a
	shift
	grep -qF "[$label]" "$T/commands" 2>/dev/null && return 0
	printf '  [%s]' "$label" >>"$T/commands"
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
			printf ' %s' "$a"
		else
			printf " '%s'" "${a//\'/\'\\\'\'}"
		fi
	done >>"$T/commands"
	echo >>"$T/commands"
}

# ---------------------------------------------------------------- data sets, buckets
make_set_a() {
	mkdir -p "$1"
	head -c $((NA * MiB)) /dev/urandom | split -b $MiB -a 6 -d - "$1/m"
	head -c "$BIG" /dev/urandom >"$1/big.bin"
}
make_set_b() {
	local d sub
	for ((d = 0; d < NDIRS; d++)); do
		sub=$1/$(printf 'd%02d' "$d")
		mkdir -p "$sub"
		head -c $((PER_DIR * 4096)) /dev/urandom | split -b 4096 -a 6 -d - "$sub/f"
	done
}
# tree_sig DIR: "FILES BYTES" of the regular files under DIR
tree_sig() { find "$1" -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d %.0f\n", n, b }'; }

# s3curl ARGS...: a signed request with an empty body (keys from $T/curl.conf)
S3CURL=(curl -s -K "$T/curl.conf" --aws-sigv4 "aws:amz:us-east-1:s3"
	-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
s3curl() { "${S3CURL[@]}" -m 30 "$@"; }
mkbucket() {
	local code
	code=$(s3curl -o "$T/log/mkbucket.out" -w '%{http_code}' -X PUT "$CAIRN_S3_ENDPOINT/$1") || true
	[ "$code" = 200 ] || die "creating bucket $1 failed: HTTP $code $(head -c 300 "$T/log/mkbucket.out")"
}
# remote_size BUCKET/KEY: the object's size (HEAD), empty if that fails
remote_size() {
	s3curl -I "$CAIRN_S3_ENDPOINT/$1" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Ll]ength: //p'
}
# Frees the memstore: every object of the bucket, tails too (no garbage collection wait).
rmbucket() {
	CEPH_CONF=$CAIRN_S3_STATE/ceph.conf timeout 600 radosgw-admin bucket rm --bucket="$1" \
		--purge-objects --bypass-gc >"$T/log/rmbucket.$1" 2>&1 ||
		log "could not purge bucket $1 (its data stays in the RGW's memory): $(tail -1 "$T/log/rmbucket.$1")"
}

# ---------------------------------------------------------------- cairn
CACHE=$T/cache # Cairn's CacheDir (a new one for each cold run)
BUCKET=
write_conf() { # write_conf BUCKET
	BUCKET=$1
	cat >"$T/cairn.conf" <<CONF
Storage = s3://$1/cairn
S3Endpoint = $CAIRN_S3_ENDPOINT
S3Region = us-east-1
S3PathStyle = yes
S3Credentials = $CAIRN_S3_CREDENTIALS
CacheDir = $CACHE
StateDir = $T/run
CONF
}

# crun NAME VOLUME:DIR CMD...: timed `cairn run` as the test user in $W; a failure ends the bench.
crun() {
	local name=$1 vol=$2
	shift 2
	CRUN_ERR=$T/log/$name.err
	timed "$name" "$CAIRN" run --user "$USER_" --volume "$vol" -- "$@" ||
		die "cairn run --volume $vol -- $* failed (exit $?): $(tail -5 "$CRUN_ERR")"
}
# cairn's summary lines of the last crun, commas dropped from the counts
hydrate_line() { grep -E "^cairn: volume $1: version [0-9]+, " "$CRUN_ERR" | tail -1 | tr -d ,; }
sync_line() { grep -E "^cairn: volume $1: (synced version|no changes)" "$CRUN_ERR" | tail -1 | tr -d ,; }
secs_of() { sed -n 's/.* in \([0-9.]*\) s$/\1/p' <<<"$1"; }
need_line() { # need_line WHAT LINE
	[ -n "$2" ] && [ -n "$(secs_of "$2")" ] ||
		die "no $1 summary line from cairn run ($CRUN_ERR): $(tail -3 "$CRUN_ERR")"
}
# count_of LINE WORD: the number before WORD ("files", "from cache", "fetched", "uploaded")
count_of() { sed -n "s/.*[ ,]\([0-9][0-9]*\) $2[ ,(].*/\1/p" <<<"$1"; }

# ---------------------------------------------------------------- scenarios
# A data set is a letter (A, B): its bucket, volume and mount path follow.
bucket_of() { echo "s3bench-${1,,}"; }
vol_of() { echo "bench$1"; }
mnt_of() { echo "${1,,}"; }
nfiles_of() { [ "$1" = A ] && echo $((NA + 1)) || echo "$NB"; }

# order RUN: the tools, rotated by RUN so that each goes first in turn
order() {
	local tools=(cairn) p i
	for p in "${PEER_NAMES[@]}"; do peer_ok "$p" && tools+=("$p"); done
	for ((i = 0; i < ${#tools[@]}; i++)); do echo "${tools[$(((i + $1) % ${#tools[@]}))]}"; done
}

# peer_run NAME PEER SRC DST: timed peer sync; a failure leaves the peer out (returns 1)
peer_run() {
	local name=$1 p=$2
	peer_cmd "$p" "$3" "$4"
	peer_ok "$p" || return 1
	if ! timed "$name" "${CMD[@]}"; then
		drop_peer "$p" "$name failed: $(tail -2 "$T/log/$name.err" | tr '\n' ' ')"
		return 1
	fi
}

# Puts data set SET where the tools download it from: Cairn's volume (a cairn
# run that copies it in) and s3://BUCKET/src (by the first usable peer).
seed_set() {
	local s=$1 b p
	b=$(bucket_of "$s")
	mkbucket "$b"
	CACHE=$T/cache
	write_conf "$b"
	crun "seed$s" "$(vol_of "$s"):$(mnt_of "$s")" cp -a "$T/src/$s/." "$(mnt_of "$s")/"
	SEED_LINE=$(sync_line "$(vol_of "$s")")
	SEED_WALL=$WALL
	SEED_RSS=$RSS
	need_line sync "$SEED_LINE"
	log "cairn uploaded $s: $(grep '^cairn: volume .*: synced' "$CRUN_ERR" | tail -1)"
	for p in "${PEER_NAMES[@]}"; do
		peer_ok "$p" || continue
		peer_run "seed$s.$p" "$p" "$T/src/$s" "s3://$b/src" || continue
		log "$p uploaded $s to s3://$b/src in $WALL s (untimed setup)"
		return 0
	done
}

# cold_one SET RUN TOOL: one download of SET into an empty place
cold_one() {
	local s=$1 run=$2 tool=$3 key=cold$1 line dir v
	v=$(vol_of "$s")
	if [ "$tool" = cairn ]; then
		CACHE=$T/cold/$s.$run.cairn
		write_conf "$BUCKET"
		cmd_note "$key cairn" "$CAIRN" run --user "$USER_" --volume "$v:$(mnt_of "$s")" -- true
		crun "$key.$run" "$v:$(mnt_of "$s")" true
		line=$(hydrate_line "$v")
		need_line hydrate "$line"
		[ "$(count_of "$line" files)" = "$(nfiles_of "$s")" ] && [ "$(count_of "$line" "from cache")" = 0 ] ||
			die "cold hydrate of $s: expected $(nfiles_of "$s") files, none from cache: $line"
		rec "$key" cairn s "$(secs_of "$line")"
		rec "$key" cairn wall "$WALL"
		rec "$key" cairn rss "$RSS"
		if [ "$run" = 1 ]; then
			crun "verify$s" "$v:$(mnt_of "$s")" diff -rq "$T/src/$s" "$(mnt_of "$s")"
		fi
		drop_big_copy "$s" "$CACHE"
		return 0
	fi
	dir=$T/cold/$s.$run.$tool
	LAST_DL[$tool]=$dir
	mkdir -p "$dir"
	peer_run "$key.$run.$tool" "$tool" "s3://$(bucket_of "$s")/src" "$dir" || return 0
	cmd_note "$key $tool" "${CMD[@]}"
	if [ "$(tree_sig "$dir")" != "$(tree_sig "$T/src/$s")" ]; then
		drop_peer "$tool" "its download of $s has $(tree_sig "$dir") (files bytes), the source $(tree_sig "$T/src/$s")"
		return 0
	fi
	if [ "$run" = 1 ] && ! diff -rq "$T/src/$s" "$dir" >"$T/log/diff.$tool" 2>&1; then
		drop_peer "$tool" "its download of $s differs from the source: $(head -1 "$T/log/diff.$tool")"
		return 0
	fi
	rec "$key" "$tool" s "$WALL"
	rec "$key" "$tool" rss "$RSS"
	drop_big_copy "$s" "$dir"
}

# A's copies (1.25 GiB each, few files) go as soon as they are checked: a dozen
# of them would fill the page cache and slow down whoever writes next.
drop_big_copy() { # drop_big_copy SET DIR
	[ "$1" = A ] && rm -rf "$2"
	return 0
}

# Every cold run goes to a new place, and the older copies are deleted only
# after the scenario: on a file system without a journal (this VM's root) ext4
# skips inodes freed a moment ago when it allocates new ones, and a tree of
# 20,000 files created where another was just deleted takes several times as
# long, whichever tool writes it.
declare -A LAST_DL # peer -> its newest copy, synced again by scenario 3
cold_scenario() { # cold_scenario SET
	local run tool keep dir
	mkdir -p "$T/cold"
	for ((run = 1; run <= RUNS; run++)); do
		for tool in $(order "$run"); do cold_one "$1" "$run" "$tool"; done
	done
	keep=$(printf '%s\n' "$CACHE" "${LAST_DL[@]}")
	for dir in "$T/cold"/*; do
		grep -qxF "$dir" <<<"$keep" || rm -rf "$dir"
	done
}

# The server's own limit on the same run: 8 GETs at once with curl, of A's
# objects as the peers stored them, into /dev/null (no disk, no checks), and
# the same into files of a new directory (the disk, no checks). No client that
# writes the files can download A faster than the second.
floor_a() {
	local b cfg run dir
	b=$(bucket_of A)
	for run in null files; do
		(cd "$T/src/A" && find . -type f | sed 's|^\./||' | sort) |
			awk -v e="$CAIRN_S3_ENDPOINT/$b/src" -v d="$run" -v t="$T/cold/floor" \
				'{ printf "url = \"%s/%s\"\noutput = \"%s\"\n", e, $0, (d == "null" ? "/dev/null" : t "/" $0) }' >"$T/floor.$run"
	done
	for ((run = 1; run <= RUNS; run++)); do
		for cfg in null files; do
			dir=$T/cold/floor
			mkdir -p "$dir"
			timed "floorA.$cfg.$run" "${S3CURL[@]}" -f -Z --parallel-max 8 -K "$T/floor.$cfg" || {
				log "the curl floor failed: $(tail -2 "$T/log/floorA.$cfg.$run.err")"
				return 0
			}
			rm -rf "$dir"
			rec coldA "floor$cfg" s "$WALL"
		done
	done
	cmd_note "coldA floor" "${S3CURL[@]}" -f -Z --parallel-max 8 -K "$T/floor.null"
	cmd_note "coldA floor into files" "${S3CURL[@]}" -f -Z --parallel-max 8 -K "$T/floor.files"
}

# Each peer's own copy of B, uploaded once to its own prefix: the first upload
# of B, shown as an extra row (one run).
first_upload_b() {
	local p b
	b=$(bucket_of B)
	rec upB cairn s "$(secs_of "$SEED_LINE")"
	rec upB cairn wall "$SEED_WALL"
	rec upB cairn rss "$SEED_RSS"
	for p in $(order 1); do
		[ "$p" = cairn ] && continue
		cp -a "$T/src/B" "$T/up/$p"
		peer_run "upB.$p" "$p" "$T/up/$p" "s3://$b/up-$p" || continue
		cmd_note "upB $p" "${CMD[@]}"
		rec upB "$p" s "$WALL"
		rec upB "$p" rss "$RSS"
	done
}

# 5: each tool removes its copy of B, once; Cairn's contents must be deleted.
remove_b() {
	local p b v
	b=$(bucket_of B)
	v=$(vol_of B)
	for p in $(order 1); do
		if [ "$p" = cairn ]; then
			cmd_note "rmB cairn" "$CAIRN" rm "$v"
			timed rmB.cairn "$CAIRN" rm "$v" ||
				die "cairn rm of B failed: $(tail -1 "$T/log/rmB.cairn.err")"
			grep -Eq 'deleted [1-9]' "$T/log/rmB.cairn.out" ||
				die "cairn rm of B deleted no contents: $(tail -1 "$T/log/rmB.cairn.out")"
			log "cairn rm: $(tail -1 "$T/log/rmB.cairn.out")"
			rec rmB cairn s "$WALL"
			rec rmB cairn wall "$WALL"
			rec rmB cairn rss "$RSS"
			continue
		fi
		case $p in
		aws) CMD=(env AWS_CONFIG_FILE="$T/aws.config" AWS_SHARED_CREDENTIALS_FILE="$T/aws.credentials"
			/usr/bin/aws --endpoint-url "$CAIRN_S3_ENDPOINT" s3 rm --recursive --only-show-errors
			"s3://$b/up-$p/") ;;
		rclone) CMD=(env -u AWS_CA_BUNDLE rclone --config "$T/rclone.conf" purge "rgw:$b/up-$p") ;;
		s3cmd) CMD=(s3cmd -c "$T/s3cfg" --no-progress del --recursive --force "s3://$b/up-$p/") ;;
		esac
		if ! timed "rmB.$p" "${CMD[@]}"; then
			drop_peer "$p" "rmB failed: $(tail -2 "$T/log/rmB.$p.err" | tr '\n' ' ')"
			continue
		fi
		cmd_note "rmB $p" "${CMD[@]}"
		rec rmB "$p" s "$WALL"
		rec rmB "$p" rss "$RSS"
	done
}

# nochange_one RUN TOOL: B again with nothing changed, down (hydrate) and up (sync)
nochange_one() {
	local run=$1 tool=$2 b line sline v key
	b=$(bucket_of B)
	v=$(vol_of B)
	if [ "$tool" = cairn ]; then
		cmd_note "same cairn" "$CAIRN" run --user "$USER_" --volume "$v:b" -- true
		crun "same.$run" "$v:b" true
		line=$(hydrate_line "$v")
		sline=$(sync_line "$v")
		need_line hydrate "$line"
		need_line sync "$sline"
		[ "$(count_of "$line" fetched)" = 0 ] && [[ $sline == *"no changes"* ]] ||
			die "no-change run of B fetched or synced something: $line / $sline"
		rec sameDown cairn s "$(secs_of "$line")"
		rec sameUp cairn s "$(secs_of "$sline")"
		for key in sameDown sameUp; do
			rec "$key" cairn wall "$WALL"
			rec "$key" cairn rss "$RSS"
		done
		return 0
	fi
	if peer_run "sameDown.$run.$tool" "$tool" "s3://$b/src" "${LAST_DL[$tool]}"; then
		cmd_note "sameDown $tool" "${CMD[@]}"
		rec sameDown "$tool" s "$WALL"
		rec sameDown "$tool" rss "$RSS"
	fi
	if peer_run "sameUp.$run.$tool" "$tool" "$T/up/$tool" "s3://$b/up-$tool"; then
		cmd_note "sameUp $tool" "${CMD[@]}"
		rec sameUp "$tool" s "$WALL"
		rec sameUp "$tool" rss "$RSS"
	fi
}

# append_byte DIR: appends one byte to each file of the change list under DIR
append_byte() {
	local f
	while IFS= read -r f; do printf x >>"$1/$f"; done <"$T/change.list"
}

# change_one RUN TOOL: sync B up after 1% of its files grew by a byte
change_one() {
	local run=$1 tool=$2 line v f size
	v=$(vol_of B)
	if [ "$tool" = cairn ]; then
		# shellcheck disable=SC2016 # expanded by that sh
		set -- sh -c 'while IFS= read -r f; do printf x >>"b/$f"; done <"$1"' sh "$T/change.list"
		cmd_note "change cairn" "$CAIRN" run --user "$USER_" --volume "$v:b" -- "$@"
		crun "change.$run" "$v:b" "$@"
		line=$(sync_line "$v")
		need_line sync "$line"
		[ "$(count_of "$line" uploaded)" = "$NCHG" ] ||
			die "sync after changing $NCHG files of B did not upload $NCHG files: $line"
		rec change cairn s "$(secs_of "$line")"
		rec change cairn wall "$WALL"
		rec change cairn rss "$RSS"
		return 0
	fi
	append_byte "$T/up/$tool"
	peer_run "change.$run.$tool" "$tool" "$T/up/$tool" "s3://$(bucket_of B)/up-$tool" || return 0
	cmd_note "change $tool" "${CMD[@]}"
	# Did it upload? The first changed file's size on the server.
	f=$(head -1 "$T/change.list")
	size=$(remote_size "$(bucket_of B)/up-$tool/$f")
	if [ "$size" != "$(stat -c %s "$T/up/$tool/$f")" ]; then
		drop_peer "$tool" "after its sync up, $f is ${size:-?} bytes on the server, $(stat -c %s "$T/up/$tool/$f") here"
		return 0
	fi
	rec change "$tool" s "$WALL"
	rec change "$tool" rss "$RSS"
}

each_run() { # each_run FUNCTION: FUNCTION RUN TOOL for every run and tool, interleaved
	local run tool
	for ((run = 1; run <= RUNS; run++)); do
		for tool in $(order "$run"); do "$1" "$run" "$tool"; done
	done
}

# ---------------------------------------------------------------- report
# best_peer KEY: "SECONDS NAME" of the fastest peer's median, or "- -"
best_peer() {
	local p v best=- name=-
	for p in "${PEER_NAMES[@]}"; do
		v=$(med "$1" "$p" s)
		[ "$v" = - ] && continue
		if [ "$best" = - ] || awk -v a="$v" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$v
			name=$p
		fi
	done
	echo "$best $name"
}

ROW_FMT='%-26s %8s %10s %8s %8s %8s %7s %10s %10s %10s  %s\n'
row() { # row KEY LABEL
	local c cw best name rss=() p
	c=$(med "$1" cairn s)
	cw=$(med "$1" cairn wall)
	read -r best name < <(best_peer "$1")
	for p in "${PEER_NAMES[@]}"; do rss+=("$(mib "$(maxv "$1" "$p" rss)")"); done
	# shellcheck disable=SC2059
	printf "$ROW_FMT" "$2" "$c" "$cw" "$(med "$1" aws s)" "$(med "$1" rclone s)" "$(med "$1" s3cmd s)" \
		"$name" "$(ratio "$best" "$c")" "$(ratio "$best" "$cw")" "$(mib "$(maxv "$1" cairn rss)")" \
		"$(
			IFS=/
			echo "${rss[*]}"
		)"
}

table() {
	# shellcheck disable=SC2059
	printf "$ROW_FMT" scenario "cairn s" "cairn run" "aws s" "rclone s" "s3cmd s" best "best/cairn" "best/run" \
		"cairn MiB" "peers' MiB (aws/rclone/s3cmd)"
	row coldA "1 cold hydrate A"
	row coldB "2 cold hydrate B"
	row sameDown "3 no-change hydrate B"
	row sameUp "3 no-change sync B"
	row change "4 sync B, 1% changed"
	row upB "- first upload B (1 run)"
	row rmB "5 rm B (1 run)"
}

# target KEY LABEL ratio MIN | target KEY LABEL below SECONDS
target() {
	local key=$1 label=$2 kind=$3 goal=$4 best name r rw verdict
	if [ "$kind" = below ]; then
		r=$(med "$key" cairn s)
		verdict="not met"
		awk -v a="$r" -v b="$goal" 'BEGIN { exit !(a < b) }' && verdict=met
		printf '  %-24s < %s s for 20,000 files: %s s: %s%s\n' "$label" "$goal" "$r" "$verdict" \
			"$([ "$NB" = 20000 ] || echo " (this run: $NB files)")"
		return 0
	fi
	read -r best name < <(best_peer "$key")
	if [ "$best" = - ]; then
		printf '  %-24s >= %sx the fastest peer: n/a (no peer ran)\n' "$label" "$goal"
		return 0
	fi
	r=$(ratio "$best" "$(med "$key" cairn s)")
	rw=$(ratio "$best" "$(med "$key" cairn wall)")
	verdict="not met"
	awk -v a="$r" -v b="$goal" 'BEGIN { exit !(a >= b) }' && verdict=met
	printf '  %-24s >= %sx the fastest peer: %sx (%s); whole cairn run %sx: %s\n' "$label" "$goal" "$r" \
		"$name" "$rw" "$verdict"
}

report() {
	local p floor best name
	echo
	echo "Commands (the first of each; peers with default options; \$T is $T):"
	sed "s|$T|\$T|g" "$T/commands"
	echo
	echo "Data set A: $NA x 1 MiB + 1 x $(awk -v b="$BIG" 'BEGIN { printf "%.1f", b / 1048576 }') MiB;" \
		"B: $NB x 4 KiB in $NDIRS directories; 1% = $NCHG files. Medians of $RUNS run(s), seconds."
	echo "cairn s: the hydrate or sync time cairn prints; cairn run: the whole cairn run (same run for"
	echo "both rows of 3). best/cairn, best/run: fastest peer's time / cairn's (>1: cairn is faster)."
	echo "Peak RSS in MiB (largest of the runs)."
	echo
	table
	echo
	echo "Targets (judged on cairn s):"
	target coldA "1 cold hydrate A" ratio 2
	floor=$(med coldA floornull s)
	if [ "$floor" != - ]; then
		read -r best name < <(best_peer coldA)
		printf '  %-24s the server itself: 8 curl GETs at once take %s s into /dev/null,\n' "" "$floor"
		printf '  %-24s %s s into files (no checks);\n' "" "$(med coldA floorfiles s)"
		[ "$best" = - ] ||
			printf '  %-24s 2x the fastest peer means %s s, %sx the time of the first\n' "" \
				"$(awk -v b="$best" 'BEGIN { printf "%.2f", b / 2 }')" \
				"$(awk -v b="$best" -v f="$floor" 'BEGIN { printf "%.2f", b / 2 / f }')"
	fi
	target coldB "2 cold hydrate B" ratio 3
	target sameDown "3 no-change hydrate B" below 0.2
	target sameUp "3 no-change sync B" below 0.2
	echo "  4 sync B, 1% changed    no target"
	echo "  5 rm B                  no target"
	for p in "${PEER_NAMES[@]}"; do
		peer_ok "$p" || echo "Left out: $p: ${PEER_OUT[$p]}"
	done
}

# ---------------------------------------------------------------- main
id "$USER_" >/dev/null 2>&1 || useradd -m "$USER_"
[ -x build/cairn ] || make -s all
# A copy, so that a rebuild by someone else cannot change the binary mid-run.
cp build/cairn "$T/cairn"
CAIRN=$T/cairn
export CAIRN_CONF=$T/cairn.conf
chown "$USER_": "$W"

install_peers
[ -x /usr/bin/time ] && TIME=/usr/bin/time
for p in "${PEER_NAMES[@]}"; do
	[ -n "$(peer_bin "$p")" ] || drop_peer "$p" "not installed (apt-get install failed, see above)"
done

RGW_STARTED=1
if ! env_lines=$("$REPO/tests/s3/rgw" up --state "$T/rgw" 2>"$T/log/rgw.err"); then
	die "the RGW did not come up: $(tail -3 "$T/log/rgw.err")"
fi
eval "$env_lines"
peer_configs
mkbucket s3bench-probe
probe_peers s3bench-probe

echo "S3 benchmark: $(uname -r), $(nproc) CPUs, $("$CAIRN" --version 2>/dev/null | head -1), Ceph RGW" \
	"$(radosgw --version 2>/dev/null | awk '{ print $3 }') on $CAIRN_S3_ENDPOINT (memstore $((CAIRN_RGW_MEMSTORE_BYTES / MiB)) MiB)"
for p in "${PEER_NAMES[@]}"; do
	peer_ok "$p" || continue
	case $p in
	aws) echo "  $(/usr/bin/aws --version 2>&1 | head -1)" ;;
	rclone) echo "  $(env -u AWS_CA_BUNDLE rclone version 2>&1 | head -1)" ;;
	s3cmd) echo "  $(s3cmd --version 2>&1 | head -1)" ;;
	esac
done
echo "  scale $SCALE, $RUNS run(s), data in $T; load average $(cut -d' ' -f1-3 /proc/loadavg)"
cd "$W"

log "data set A: $NA x 1 MiB + $BIG bytes"
make_set_a "$T/src/A"
seed_set A
log "1. cold hydrate of A"
cold_scenario A
floor_a
rmbucket "$(bucket_of A)"
rm -rf "$T/src/A" "$T/cold" "$T/cache"

log "data set B: $NB x 4 KiB"
make_set_b "$T/src/B"
(cd "$T/src/B" && find . -type f | sed 's|^\./||' | sort | awk -v k=$((NB / NCHG)) 'NR % k == 0') >"$T/change.list"
seed_set B
first_upload_b
log "2. cold hydrate of B"
cold_scenario B
log "3. no-change hydrate and sync of B"
each_run nochange_one
log "4. sync of B after changing $NCHG files"
each_run change_one
log "5. removing B"
remove_b
rmbucket "$(bucket_of B)"

report
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs; other load makes the figures noisy)"
awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "\ntotal %.1f s\n", b - a }'
