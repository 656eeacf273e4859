#!/usr/bin/env bash
# Round trips of an odd-cases corpus through the s3:// backend, against a real
# Ceph RGW started here (tests/s3/rgw). Each tree is written into a volume by one
# `cairn run` (and listed there, as the sync will see it), then hydrated by a
# second `cairn run` into an empty cache (another CacheDir) and compared exactly
# with what was written: directory structure, file types, content (sha256),
# symlink targets, permission bits (setuid and setgid stripped, as README says),
# mtimes to the nanosecond (files, directories and symlinks).
#
# The corpus (tests/integration/s3corpus/corpus.py): empty files and sizes around
# the backend's buffer, part and multipart limits (up to 64 MiB + 1); a 40-level
# tree and a 256-level one (Cairn's limit); 255-byte names, UTF-8 (accents, NFC
# and NFD, CJK, emoji, RTL, zero-width), spaces, quotes, newline, tab, CR and
# other control characters, shell metacharacters; a path of exactly 4095 bytes
# (Cairn's limit); relative, absolute, dangling, looping and directory symlinks
# and a 4095-byte target; file modes 0400 to 0777 with setuid/setgid, directories
# 0700/0711/0750/0755/2775 and a read-only 0555 directory with files in it;
# mtimes before 1970, at 0, after 2038 and in 2100; a FIFO and a socket (never
# stored). Then: an empty volume, 20,000 small files, one 1 GiB file.
#
# Also checked: a run that changes nothing commits nothing; a warm hydrate
# fetches nothing; what Cairn refuses (too deep, path too long, an unreadable
# file, a non-UTF-8 name) fails the sync with a message saying why and leaves
# the volume as it was, and no name is dropped silently; the sticky bit of a
# directory survives; cairn's peak RSS (/usr/bin/time -f %M, `cairn run` and its
# children) stays under 64 MiB for the 20,000-file hydrate and the 1 GiB sync
# and hydrate. Cairn's own times and the RSS figures are printed to stderr as
# diagnostics; no timing is asserted (speed is bench/'s business).
#
# Knobs: CAIRN_RGW_MEMSTORE_BYTES (default here 3 GiB: the OSD keeps every object
# in RAM and the corpus holds ~1.3 GiB), CAIRN_CORPUS_RUN_TIMEOUT (seconds one
# `cairn run` may take before it counts as hung, default 600).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
. "$HERE/lib.sh"
CAIRN=$REPO/build/cairn
USER_=cairntest
P="s3 corpus"
: "${CAIRN_RGW_MEMSTORE_BYTES:=3221225472}"
export CAIRN_RGW_MEMSTORE_BYTES
RUN_TIMEOUT=${CAIRN_CORPUS_RUN_TIMEOUT:-600}
RSS_LIMIT_KIB=$((64 * 1024))
TIME=
[ -x /usr/bin/time ] && TIME=/usr/bin/time

if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null; then
	skip "$P: round trips through RGW" "Ceph RGW packages are not installed (make deps installs them)"
	exit 0
fi
if [ ! -x "$CAIRN" ] && ! make -s -C "$REPO" all >&2; then
	fail "$P: cairn builds" "make all failed"
	exit 1
fi
id "$USER_" >/dev/null 2>&1 || useradd -m "$USER_"

# On disk (/var/tmp), not /tmp, which may be a tmpfs: the trees hold > 2 GiB.
T=$(mktemp -d /var/tmp/cairn-s3-corpus.XXXXXX)
cleanup() {
	"$REPO/tests/s3/rgw" down --state "$T/rgw" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$T"
mkdir -p "$T/work" "$T/out"
chown "$USER_" "$T/work"
install -m 644 "$HERE/s3corpus/corpus.py" "$T/corpus.py"
CORPUS=$T/corpus.py
UID_=$(id -u "$USER_")

diag() { printf '%s: diagnostic: %s\n' "$P" "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t_start=$(now)
if ! env_lines=$("$REPO/tests/s3/rgw" up --state "$T/rgw" 2>"$T/rgw.err"); then
	fail "$P: RGW comes up" "$(tail -3 "$T/rgw.err")"
	exit 1
fi
eval "$env_lines"
diag "RGW up in $(since "$t_start") s (memstore $((CAIRN_RGW_MEMSTORE_BYTES >> 20)) MiB)"

# write.conf writes the volumes; cold.conf has a cache of its own, empty until a
# volume is first hydrated through it.
mkconf() { # FILE CACHEDIR
	cat >"$1" <<CONF
Storage = s3://$CAIRN_S3_BUCKET/corpus
S3Endpoint = $CAIRN_S3_ENDPOINT
S3Credentials = $CAIRN_S3_CREDENTIALS
S3PathStyle = yes
CacheDir = $2
StateDir = $T/state
LeaseWait = 5
CONF
}
mkconf "$T/write.conf" "$T/cache-write"
mkconf "$T/cold.conf" "$T/cache-cold"
WRITE=$T/write.conf
COLD=$T/cold.conf

# crun CONF TAG ARGS...: `cairn run --user cairntest ARGS...` from $T/work. Its
# stderr goes to $T/out/TAG.err, its wall time to TAG.wall, its peak RSS in KiB
# (of cairn and its children) to TAG.rss; stdout passes through. Returns its
# exit status (124: it hung past RUN_TIMEOUT).
crun() {
	local conf=$1 tag=$2 t0 rc timer=()
	shift 2
	[ -z "$TIME" ] || timer=("$TIME" -o "$T/out/$tag.rss" -f %M)
	t0=$(now)
	(cd "$T/work" && CAIRN_CONF=$conf timeout -k 10 "$RUN_TIMEOUT" "${timer[@]}" \
		"$CAIRN" run --user "$USER_" "$@" 2>"$T/out/$tag.err")
	rc=$?
	since "$t0" >"$T/out/$tag.wall"
	return $rc
}

# The summary lines of volume VOL in run TAG's stderr.
hydrate_line() { grep -a "^cairn: volume $1: version " "$T/out/$2.err" | tail -n1; }
sync_line() { grep -aE "^cairn: volume $1: (synced|no changes|sync failed)" "$T/out/$2.err" | tail -n1; }
errtail() { tail -n 4 "$T/out/$1.err" | cut -c1-300 | tr '\n' ' '; }
nocomma() { tr -d , <<<"$1"; }

# parse_hydrate VOL TAG: H_VERSION H_FILES H_CACHED H_FETCHED from the line
# "version N, F files, SIZE, C from cache, M fetched (SIZE) in S s"; 1 if absent.
parse_hydrate() {
	local line re='version ([0-9]+), ([0-9,]+) files, .*, ([0-9,]+) from cache, ([0-9,]+) fetched \([^)]*\) in [0-9.]+ s$'
	line=$(hydrate_line "$1" "$2")
	H_VERSION='' H_FILES='' H_CACHED='' H_FETCHED=''
	[[ $line =~ $re ]] || return 1
	H_VERSION=${BASH_REMATCH[1]}
	H_FILES=$(nocomma "${BASH_REMATCH[2]}")
	H_CACHED=$(nocomma "${BASH_REMATCH[3]}")
	H_FETCHED=$(nocomma "${BASH_REMATCH[4]}")
}

version_of() { # the committed version of VOL, or "none"
	CAIRN_CONF=$WRITE "$CAIRN" show "$1" --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || echo none
}

files_in() { awk -F'\t' '$3 == "f"' "$1" | wc -l; } # regular files in a listing
no_specials() { awk -F'\t' '$3 !~ /^[psbc]$/' "$1"; } # what Cairn stores of a listing

# same_tree NAME WRITTEN HYDRATED [TOP]: pass NAME if the two listings agree (only
# the entries under top-level directory TOP if given), else fail with the first
# differences ("<" written, ">" hydrated; the whole diff goes to stderr).
same_tree() {
	local name=$1 exp=$T/out/cmp.exp got=$T/out/cmp.got n
	if [ $# -ge 4 ]; then
		awk -F'\t' -v t="$4" '$1 == t' "$2" >"$exp"
		awk -F'\t' -v t="$4" '$1 == t' "$3" >"$got"
	else
		cp "$2" "$exp"
		cp "$3" "$got"
	fi
	if [ ! -s "$exp" ]; then
		fail "$name" "the written listing has no such entries: the corpus was not written"
		return
	fi
	if cmp -s "$exp" "$got"; then
		pass "$name"
		return
	fi
	n=$(diff "$exp" "$got" | grep -c '^[<>]')
	fail "$name" "$n listing lines differ (< written, > hydrated; fields: top path type mode mtime_ns size sha256 target): $(diff "$exp" "$got" | grep '^[<>]' | head -4 | cut -c1-240 | tr '\n' ' ')"
	{
		echo "--- $name: diff written hydrated"
		diff "$exp" "$got" | head -60 | cut -c1-400
	} >&2
}

# rss_check NAME TAG: pass NAME if run TAG peaked under 64 MiB.
rss_check() {
	local kib
	if [ -z "$TIME" ]; then
		skip "$1" "/usr/bin/time is not installed (apt-get install time)"
		return
	fi
	kib=$(tail -n1 "$T/out/$2.rss" 2>/dev/null)
	if ! [[ $kib =~ ^[0-9]+$ ]]; then
		fail "$1" "no figure from /usr/bin/time: $(tr '\n' ' ' <"$T/out/$2.rss" 2>/dev/null)"
	elif [ "$kib" -lt "$RSS_LIMIT_KIB" ]; then
		pass "$1"
	else
		fail "$1" "peak RSS $(rss_mib "$2") MiB (cairn run and its children), over 64 MiB"
	fi
}
rss_mib() { awk -v k="$(tail -n1 "$T/out/$1.rss" 2>/dev/null)" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else printf "?" }'; }

# expect_written NAME VOL TAG RC: the first run of VOL committed version 1.
expect_written() {
	local line
	line=$(sync_line "$2" "$3")
	if [ "$4" -eq 0 ] && [[ $line == "cairn: volume $2: synced version 1,"* ]]; then
		pass "$1"
	else
		fail "$1" "exit $4; $(errtail "$3")"
	fi
}

# expect_unchanged NAME VOL TAG RC: the run committed nothing.
expect_unchanged() {
	local line
	line=$(sync_line "$2" "$3")
	if [ "$4" -eq 0 ] && [[ $line == "cairn: volume $2: no changes, still version 1 "* ]]; then
		pass "$1"
	else
		fail "$1" "exit $4; $(errtail "$3")"
	fi
}

# expect_cold NAME VOL TAG RC LISTING: a hydrate into an empty cache that fetched
# every regular file of the written LISTING, and whose sync found nothing to commit.
expect_cold() {
	local want
	want=$(files_in "$5")
	if [ "$4" -ne 0 ] || ! parse_hydrate "$2" "$3"; then
		fail "$1" "exit $4; $(errtail "$3")"
	elif [ "$H_VERSION" != 1 ] || [ "$H_CACHED" != 0 ] || [ "$H_FETCHED" != "$want" ]; then
		fail "$1" "expected version 1, 0 from cache, $want fetched: $(hydrate_line "$2" "$3")"
	elif [[ $(sync_line "$2" "$3") != "cairn: volume $2: no changes, still version 1 "* ]]; then
		fail "$1" "the hydrated tree differs from its own record: $(sync_line "$2" "$3")"
	else
		pass "$1"
	fi
}

# expect_warm NAME VOL TAG RC: a hydrate from a warm cache that fetched nothing.
expect_warm() {
	if [ "$4" -ne 0 ] || ! parse_hydrate "$2" "$3"; then
		fail "$1" "exit $4; $(errtail "$3")"
	elif [ "$H_FETCHED" != 0 ] || [ "$H_CACHED" = 0 ] ||
		[[ $(sync_line "$2" "$3") != "cairn: volume $2: no changes, still version 1 "* ]]; then
		fail "$1" "$(hydrate_line "$2" "$3") / $(sync_line "$2" "$3")"
	else
		pass "$1"
	fi
}

timing() { # LABEL VOL TAG: Cairn's summary lines, wall time and peak RSS of a run
	diag "$1: $(hydrate_line "$2" "$3" | sed 's/^cairn: volume [^:]*: //') | $(sync_line "$2" "$3" | sed 's/^cairn: volume [^:]*: //') | wall $(cat "$T/out/$3.wall") s, peak RSS $(rss_mib "$3") MiB"
}

# ---------------------------------------------------------------- the odd cases
crun "$WRITE" corpus-write --volume corpus:c -- sh -c \
	"python3 '$CORPUS' gen-corpus c && python3 '$CORPUS' list --strip-sxid c" >"$T/out/corpus.listed"
rc=$?
expect_written "$P: the corpus is written as version 1" corpus corpus-write $rc
no_specials "$T/out/corpus.listed" >"$T/out/corpus.exp"
check "$P: the corpus had a FIFO and a socket to skip" \
	test "$(awk -F'\t' '$3 == "p" || $3 == "s"' "$T/out/corpus.listed" | wc -l)" = 2

crun "$WRITE" corpus-again --volume corpus:c -- true
expect_unchanged "$P: a second run without changes commits nothing" corpus corpus-again $?

crun "$COLD" corpus-cold --volume corpus:c -- python3 "$CORPUS" list c >"$T/out/corpus.got"
rc=$?
expect_cold "$P: cold hydrate of the corpus fetches every file into an empty cache" corpus corpus-cold $rc "$T/out/corpus.exp"
same_tree "$P: empty files and sizes around 1 MiB, 16 MiB and 64 MiB round-trip" "$T/out/corpus.exp" "$T/out/corpus.got" files
same_tree "$P: a 40-level tree round-trips" "$T/out/corpus.exp" "$T/out/corpus.got" deep
same_tree "$P: a 256-level tree (the limit) round-trips" "$T/out/corpus.exp" "$T/out/corpus.got" chain
same_tree "$P: 255-byte, UTF-8, control-character and shell-metacharacter names round-trip" "$T/out/corpus.exp" "$T/out/corpus.got" names
same_tree "$P: a 4095-byte path (the limit) round-trips" "$T/out/corpus.exp" "$T/out/corpus.got" longpath
same_tree "$P: relative, absolute, dangling, looping and directory symlinks round-trip" "$T/out/corpus.exp" "$T/out/corpus.got" links
same_tree "$P: modes round-trip, setuid/setgid stripped, read-only directories filled" "$T/out/corpus.exp" "$T/out/corpus.got" modes
same_tree "$P: mtimes round-trip to the nanosecond (before 1970, after 2038)" "$T/out/corpus.exp" "$T/out/corpus.got" times
same_tree "$P: FIFOs and sockets are skipped, the rest of their directory kept" "$T/out/corpus.exp" "$T/out/corpus.got" skipped
same_tree "$P: the whole corpus round-trips exactly" "$T/out/corpus.exp" "$T/out/corpus.got"

crun "$COLD" corpus-warm --volume corpus:c -- true
expect_warm "$P: a warm hydrate of the unchanged corpus fetches 0 files" corpus corpus-warm $?
check "$P: the corpus is still version 1" test "$(version_of corpus)" = 1

# ---------------------------------------------------------------- an empty volume
crun "$WRITE" void-write --volume void:v -- true
rc=$?
line=$(sync_line void void-write)
if [ $rc -eq 0 ] && [[ $line == "cairn: volume void: synced version 1, 0 files, 0 B,"* ]]; then
	pass "$P: an empty volume is committed as version 1 with 0 files"
else
	fail "$P: an empty volume is committed as version 1 with 0 files" "exit $rc; $(errtail void-write)"
fi
crun "$COLD" void-cold --volume void:v -- sh -c "test -d v && python3 '$CORPUS' list v && echo END" >"$T/out/void.got"
rc=$?
parse_hydrate void void-cold
if [ $rc -eq 0 ] && [ "$H_VERSION" = 1 ] && [ "$H_FILES" = 0 ] && [ "$(cat "$T/out/void.got")" = END ]; then
	pass "$P: an empty volume hydrates as an empty directory"
else
	fail "$P: an empty volume hydrates as an empty directory" "exit $rc; listing: $(head -c 300 "$T/out/void.got" | tr '\n' ' '); $(errtail void-cold)"
fi

# ---------------------------------------------------------------- 20,000 small files
crun "$WRITE" many-write --volume many:m -- sh -c \
	"python3 '$CORPUS' gen-many m 20000 && python3 '$CORPUS' list m" >"$T/out/many.exp"
rc=$?
expect_written "$P: 20,000 small files are written as version 1" many many-write $rc
check "$P: the 20,000-file listing has 20,000 files" test "$(files_in "$T/out/many.exp")" = 20000
timing "20,000 files, sync" many many-write

crun "$WRITE" many-again --volume many:m -- true
expect_unchanged "$P: a second run over 20,000 unchanged files commits nothing" many many-again $?

crun "$COLD" many-cold --volume many:m -- true
rc=$?
expect_cold "$P: cold hydrate of 20,000 files fetches all of them" many many-cold $rc "$T/out/many.exp"
timing "20,000 files, cold hydrate" many many-cold
# The run's mount is gone; its tree is the cache's (CacheDir/WS/VOL/uUID/data).
data=$T/cache-cold/default/many/u$UID_/data
python3 "$CORPUS" list "$data" >"$T/out/many.got" 2>"$T/out/many.list.err" ||
	echo "cannot list $data: $(head -c 200 "$T/out/many.list.err")" >>"$T/out/many.got"
same_tree "$P: 20,000 small files round-trip" "$T/out/many.exp" "$T/out/many.got"
rss_check "$P: peak RSS of the 20,000-file cold hydrate is under 64 MiB" many-cold

crun "$COLD" many-warm --volume many:m -- true
expect_warm "$P: a warm hydrate of 20,000 unchanged files fetches 0 files" many many-warm $?
timing "20,000 files, warm hydrate" many many-warm

# ---------------------------------------------------------------- one 1 GiB file
crun "$WRITE" big-write --volume big:b -- sh -c \
	"head -c 1G /dev/urandom >b/one-gib && python3 '$CORPUS' list b" >"$T/out/big.exp"
rc=$?
expect_written "$P: a 1 GiB file is written as version 1" big big-write $rc
check "$P: the 1 GiB file was generated" grep -q $'\tf\t0644\t[0-9-]*\t1073741824\t' "$T/out/big.exp"
timing "1 GiB file, sync" big big-write
rss_check "$P: peak RSS of the 1 GiB sync is under 64 MiB" big-write
# Free the writer's copy before the second one is made.
rm -rf "$T/cache-write/default/big"

crun "$COLD" big-cold --volume big:b -- true
rc=$?
expect_cold "$P: cold hydrate of the 1 GiB file fetches it" big big-cold $rc "$T/out/big.exp"
timing "1 GiB file, cold hydrate" big big-cold
data=$T/cache-cold/default/big/u$UID_/data
python3 "$CORPUS" list "$data" >"$T/out/big.got" 2>"$T/out/big.list.err" ||
	echo "cannot list $data: $(head -c 200 "$T/out/big.list.err")" >>"$T/out/big.got"
same_tree "$P: the 1 GiB file round-trips (sha256, mode, mtime)" "$T/out/big.exp" "$T/out/big.got"
rss_check "$P: peak RSS of the 1 GiB cold hydrate is under 64 MiB" big-cold

crun "$COLD" big-warm --volume big:b -- true
expect_warm "$P: a warm hydrate of the unchanged 1 GiB file fetches 0 files" big big-warm $?
timing "1 GiB file, warm hydrate" big big-warm
rm -rf "$T/cache-cold/default/big"

# ---------------------------------------------------------------- what Cairn refuses
# refused NAME VOL PATTERN SCRIPT: on top of a committed version 1, the run of
# SCRIPT (sh, in the directory where VOL is mounted at r) must fail its sync with
# exit status 1 and a message matching PATTERN, and leave version 1 in place.
refused() {
	local name=$1 vol=$2 pat=$3 script=$4 rc v
	crun "$WRITE" "$vol-base" --volume "$vol:r" -- sh -c 'echo keep >r/keep'
	crun "$WRITE" "$vol-bad" --volume "$vol:r" -- sh -c "$script"
	rc=$?
	v=$(version_of "$vol")
	if [ "$rc" -ne 1 ]; then
		fail "$name" "cairn run exited with status $rc, expected 1 (a failed sync)$([ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && echo ", killed by signal $((rc - 128))"); stderr: $(errtail "$vol-bad")"
	elif ! grep -aqE "$pat" "$T/out/$vol-bad.err"; then
		fail "$name" "no message matching '$pat': $(errtail "$vol-bad")"
	elif [ "$v" != 1 ]; then
		fail "$name" "the volume is now at version $v, expected 1"
	else
		pass "$name"
	fi
}
# shellcheck disable=SC2016 # the scripts are expanded by the sh of the run
refused "$P: a tree deeper than 256 levels is refused with a message" toodeep \
	'deeper than 256 levels' \
	'cd r && i=0 && while [ $i -lt 257 ]; do mkdir d && cd d || exit 1; i=$((i + 1)); done && echo x >f'
refused "$P: a path over 4095 bytes is refused with a message" toolong \
	'longer than 4095 bytes' \
	"python3 '$CORPUS' gen-long r 4096"
# (With many files in flight when the worker stops at the unreadable one.)
# shellcheck disable=SC2016
refused "$P: an unreadable (mode 0000) file among 200 others fails the sync with its name" unreadable \
	'unreadable.*Permission denied' \
	'for i in $(seq 1 200); do echo $i >r/f$i; done && echo secret >r/unreadable && chmod 000 r/unreadable'

# accepted_or_refused NAME VOL ENTRY PATTERN SCRIPT: like refused, but Cairn may
# also accept the entry; then it must round-trip: a cold hydrate shows it (ENTRY: a
# Python bytes repr, as in the listings), or the sync line must say it was not
# kept and why (PATTERN). Never may it vanish without a word.
accepted_or_refused() {
	local name=$1 vol=$2 entry=$3 pat=$4 script=$5 rc v
	crun "$WRITE" "$vol-base" --volume "$vol:r" -- sh -c 'echo keep >r/keep'
	crun "$WRITE" "$vol-bad" --volume "$vol:r" -- sh -c "$script"
	rc=$?
	v=$(version_of "$vol")
	if [ "$rc" -eq 1 ] && grep -aqE "$pat" "$T/out/$vol-bad.err" && [ "$v" = 1 ]; then
		pass "$name"
		return
	fi
		if [ "$rc" -ne 0 ]; then
		fail "$name" "refused (exit $rc, version $v) without a message matching '$pat': $(errtail "$vol-bad")"
		return
	fi
	if sync_line "$vol" "$vol-bad" | grep -aqE "entries not kept \(.*$pat"; then
		pass "$name"
		return
	fi
	crun "$COLD" "$vol-cold" --volume "$vol:r" -- python3 "$CORPUS" list r >"$T/out/$vol.got"
	if ENTRY=$entry awk -F'\t' '$2 == ENVIRON["ENTRY"] { found = 1 } END { exit !found }' "$T/out/$vol.got"; then
		pass "$name"
	else
		fail "$name" "silently lost: the run said \"$(sync_line "$vol" "$vol-bad")\", and a cold hydrate has: $(cut -f2 "$T/out/$vol.got" | tr '\n' ' ')"
	fi
}
# shellcheck disable=SC2016
accepted_or_refused "$P: a non-UTF-8 file name round-trips or is refused naming UTF-8" badutf8 \
	"b'bad\\xffname'" 'UTF-8' \
	'printf x >"r/bad$(printf "\377")name"'
accepted_or_refused "$P: a file named like Cairn's temporary files round-trips or is refused" tmpname \
	"b'.cairn-hydrate-tmp.mine'" 'cairn-hydrate-tmp' \
	'echo mine >r/.cairn-hydrate-tmp.mine'

# The sticky bit is kept in the manifest (only setuid/setgid are stripped).
crun "$WRITE" sticky-write --volume sticky:s -- sh -c \
	"mkdir s/shared && echo x >s/shared/f && chmod 1777 s/shared && python3 '$CORPUS' list s" >"$T/out/sticky.exp"
crun "$COLD" sticky-cold --volume sticky:s -- python3 "$CORPUS" list s >"$T/out/sticky.got"
same_tree "$P: the sticky bit of a directory round-trips" "$T/out/sticky.exp" "$T/out/sticky.got"

diag "whole test (RGW included): $(since "$t_start") s"
finish
