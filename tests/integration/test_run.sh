#!/usr/bin/env bash
# `cairn run`: the whole volume lifecycle on this machine, without Slurm, as the
# unprivileged test user: persistence, deletions, symlinks, modes, setuid
# stripping, cache loss, no-change syncs, atomic commits under injected crashes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CAIRN=$REPO/build/cairn
USER_=cairntest
id "$USER_" >/dev/null 2>&1 || useradd -m "$USER_"

T=$(mktemp -d /tmp/cairn-run.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
mkdir -p "$T/work"
chown "$USER_" "$T/work"
# CAIRN_TEST_STORAGE (e.g. s3://bucket/prefix) with CAIRN_TEST_STORAGE_CONF (extra
# lines such as S3Endpoint) runs the same tests on another backend.
: "${CAIRN_TEST_STORAGE:=file://$T/store}"
cat >"$T/cairn.conf" <<CONF
Storage = $CAIRN_TEST_STORAGE
${CAIRN_TEST_STORAGE_CONF:-}
CacheDir = $T/cache
StateDir = $T/run
LeaseTTL = 3
LeaseRenew = 1
LeaseWait = 30
CONF
export CAIRN_CONF=$T/cairn.conf
cd "$T/work"

crun() { "$CAIRN" run --user "$USER_" "$@" 2>"$T/stderr"; }
# Injected crashes abort cairn on purpose; keep bash's job report out of the log.
crash_run() { ( "$CAIRN" run --user "$USER_" "$@" 2>"$T/stderr" ) 2>/dev/null; }

# 1. Write, then read back in a second run.
crun --volume agent:.agent -- sh -c 'echo one > .agent/memory.md'
out=$(crun --volume agent:.agent -- cat .agent/memory.md)
check "run: a file written in run 1 is read in run 2" [ "$out" = one ]
check "run: summary line names the volume and version" grep -q '^cairn: volume agent: version 1, 1 files' "$T/stderr"
check "run: summary line for a no-change sync" grep -q '^cairn: volume agent: no changes, still version 1' "$T/stderr"

# 2. Files belong to the user, the mount point is left as an empty directory only.
owner=$(crun --volume agent:.agent -- stat -c %U .agent/memory.md)
check "run: hydrated files belong to the user" [ "$owner" = "$USER_" ]
check "run: nothing of the volume is left in the working directory" [ -z "$(ls -A .agent)" ]

# 3. Symlinks, modes, setuid stripping, nested dirs, deletion.
crun --volume agent:.agent -- sh -c 'mkdir -p .agent/d/e && echo x > .agent/d/e/f && ln -s ../memory.md .agent/d/link && ln -s /etc/shadow .agent/evil && chmod 4755 .agent/memory.md && chmod 0750 .agent/d'
rm -rf "$T/cache"
res=$(crun --volume agent:.agent -- sh -c 'readlink .agent/d/link; readlink .agent/evil; stat -c %a .agent/memory.md; stat -c %a .agent/d; cat .agent/d/e/f; cat .agent/d/link')
check "run: symlink restored with its target after cache loss" [ "$(sed -n 1p <<<"$res")" = ../memory.md ]
check "run: absolute symlink kept as a symlink" [ "$(sed -n 2p <<<"$res")" = /etc/shadow ]
check "run: setuid bit stripped" [ "$(sed -n 3p <<<"$res")" = 755 ]
check "run: directory mode kept" [ "$(sed -n 4p <<<"$res")" = 750 ]
check "run: nested file restored" [ "$(sed -n 5p <<<"$res")" = x ]
check "run: relative symlink resolves inside the volume" [ "$(sed -n 6p <<<"$res")" = one ]
check "run: cold hydrate fetched from storage" grep -q 'from cache, [1-9][0-9]* fetched' "$T/stderr"
crun --volume agent:.agent -- sh -c 'rm -rf .agent/d .agent/evil'
res=$(crun --volume agent:.agent -- ls -A .agent)
check "run: deletions are synced" [ "$res" = memory.md ]

# 3b. A stale cache catches up with a version written from another cache (another
# node): a retargeted symlink, a file that became a directory, new contents, modes.
sed "s|^CacheDir = .*|CacheDir = $T/cache-other|" "$T/cairn.conf" >"$T/other.conf"
crun --volume moved:.m -- sh -c 'echo a > .m/a && echo b > .m/b && ln -s a .m/ln && mkdir .m/dir && echo 1 > .m/dir/f'
CAIRN_CONF=$T/other.conf crun --volume moved:.m -- sh -c 'ln -sfn b .m/ln && echo 2 > .m/dir/f && rm .m/a && mkdir .m/a && echo in > .m/a/x && chmod 600 .m/b'
res=$(crun --volume moved:.m -- sh -c 'readlink .m/ln; cat .m/dir/f; cat .m/a/x; stat -c %a .m/b')
check "run: a stale cache follows a retargeted symlink" [ "$(sed -n 1p <<<"$res")" = b ]
check "run: a stale cache gets the new contents" [ "$(sed -n 2p <<<"$res")" = 2 ]
check "run: a stale cache turns a file into a directory" [ "$(sed -n 3p <<<"$res")" = in ]
check "run: a stale cache gets the new mode" [ "$(sed -n 4p <<<"$res")" = 600 ]
check "run: the catching-up hydrate fetched only what changed" \
	grep -q 'version 2, 4 files, .*, 1 from cache, 2 fetched' "$T/stderr"

# 3c. Small files live in packs; files with the same content (and empty files)
# share one place in a pack, and each gets its bytes in a cold hydrate.
crun --volume dups:.d -- sh -c 'for f in a b c; do echo same > .d/$f; done; : > .d/e1; : > .d/e2; echo other > .d/o'
rm -rf "$T/cache"
res=$(crun --volume dups:.d -- sh -c 'cat .d/a .d/b .d/c .d/o; wc -c < .d/e1; wc -c < .d/e2' | tr '\n' ' ')
check "run: identical small files all come back from their pack" [ "$res" = "same same same other 0 0 " ]
if [[ $CAIRN_TEST_STORAGE == file://* ]]; then
	check "run: small files are stored in packs" sh -c "ls '${CAIRN_TEST_STORAGE#file://}'/*/packs/*/ | grep -q ."
fi

# 4. Read-only mounts are never synced.
crun --volume agent:.agent:ro -- sh -c 'echo changed > .agent/memory.md' 2>/dev/null
check "run: a read-only volume cannot be written" [ "$(crun --volume agent:.agent -- cat .agent/memory.md)" = one ]

# 5. Two volumes, and a missing read-only volume is a clear error.
crun --volume a1:v1 --volume b2:v2 -- sh -c 'echo a > v1/f; echo b > v2/f'
check "run: two volumes in one run" [ "$(crun --volume a1:v1 --volume b2:v2 -- cat v1/f v2/f | tr -d '\n')" = ab ]
crun --volume nosuch:ns:ro -- true
check "run: a missing read-only volume fails with its name" grep -q 'volume nosuch does not exist' "$T/stderr"
crun --volume 'bad name:x' -- true
rc=$?
check "run: a bad --volume is a usage error" [ "$rc" = 2 ]

# 6. A mount path through a symlink, or over a directory of someone else, is refused.
ln -sfn /etc "$T/work/etc-link"
crun --volume agent:etc-link/x -- true
check "run: mount path through a symlink refused" grep -q 'symlinks are not followed' "$T/stderr"
mkdir -p "$T/work/rootdir"
crun --volume agent:rootdir -- true
check "run: mount over a directory the user does not own refused" grep -q 'not to you' "$T/stderr"

# 7. No-change sync does not re-read file contents: many files, only stat.
crun --volume many:m -- sh -c 'for i in $(seq 1 300); do echo $i > m/f$i; done'
crun --volume many:m -- true
check "run: no-change sync of 300 files uploads nothing" grep -q '^cairn: volume many: no changes' "$T/stderr"
crun --volume many:m -- sh -c 'echo changed > m/f7'
check "run: changing one file uploads exactly one" grep -q 'synced version 2, 300 files, .* 1 uploaded' "$T/stderr"

# 8. Exit status of the command is kept.
crun --volume agent:.agent -- sh -c 'exit 7'
check "run: the command's exit status is returned" [ $? = 7 ]

# 9. Crash at every point of a sync: the volume is always the whole old or the
#    whole new version, and the next run takes over the dead holder's lease and
#    commits normally. Puts of one run: lease (1, 2: state and its hint),
#    one pack holding the 5 small files (3), manifest (4), state (5: the commit,
#    6: hint), version index (7), lease release (8, 9).
crun --volume crash:c -- sh -c 'for i in 1 2 3 4 5; do echo old$i > c/f$i; done'
ok=1
for n in 1 2 3 4 5 6 7 8; do
	CAIRN_FAULT_PUT_ABORT_AFTER=$n crash_run --volume crash:c -- sh -c "for i in 1 2 3 4 5; do echo new$n-\$i > c/f\$i; done"
	got=$(for i in 1 2 3 4 5; do "$CAIRN" get crash f$i - 2>/dev/null; done | tr '\n' ' ')
	want_old="old1 old2 old3 old4 old5 " want_new="new$n-1 new$n-2 new$n-3 new$n-4 new$n-5 "
		if [ $n -le 4 ] && [ "$got" != "$want_old" ]; then
		ok=0; echo "crash after $n puts (before the commit) changed the volume: $got" >&2
		elif [ $n -ge 5 ] && [ "$got" != "$want_new" ]; then
		ok=0; echo "crash after $n puts (after the commit) lost it: $got" >&2
	fi
	# Later runs start from the committed version.
		[ $n -ge 5 ] && crun --volume crash:c -- sh -c 'for i in 1 2 3 4 5; do echo old$i > c/f$i; done'
done
check "run: a sync killed at any point leaves the whole old or the whole new version" [ $ok = 1 ]
crun --volume crash:c -- sh -c 'for i in 1 2 3 4 5; do echo final$i > c/f$i; done'
got=$(for i in 1 2 3 4 5; do "$CAIRN" get crash f$i - 2>/dev/null; done | tr '\n' ' ')
check "run: after the crashes the next run takes over and commits" [ "$got" = "final1 final2 final3 final4 final5 " ]
check "run: versions are numbered without gaps after crashes" python3 -c '
import json, subprocess, sys
s = json.loads(subprocess.check_output([sys.argv[1], "show", "crash", "--json"]))
sys.exit(s["versions"] != list(range(1, s["version"] + 1)))' "$CAIRN"

# 9b. Fencing: a holder paused past its lease loses it; its commit is refused and
#     kept as a conflict copy, never written over the newer version.
"$CAIRN" run --user "$USER_" --volume fence:f -- sh -c 'sleep 5; echo stale > f/x' 2>"$T/stale.err" &
stale=$!
sleep 1.5
kill -STOP $stale
crun --volume fence:f -- sh -c 'echo fresh > f/x'
check "fence: a paused holder's lease is taken over after it expires" grep -q 'synced version 1' "$T/stderr"
kill -CONT $stale
wait $stale
check "fence: the stale holder's commit is refused" [ $? -ne 0 ]
check "fence: the refusal says the lease was lost and names the conflict copy" grep -q 'lost its lease.*conflict copy' "$T/stale.err"
check "fence: the newer version is intact" [ "$("$CAIRN" get fence x -)" = fresh ]
conflict=$("$CAIRN" show fence --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["conflicts"][0])')
check "fence: cairn show lists the conflict copy" [ -n "$conflict" ]
check "fence: cairn get --conflict recovers the refused changes" [ "$("$CAIRN" get fence x - --conflict "$conflict")" = stale ]

# 10. The node cache is an LRU bounded by CacheMax; trees in use are kept.
cp "$T/cairn.conf" "$T/small.conf"
echo "CacheMax = 3K" >>"$T/small.conf"
uid=$(id -u "$USER_")
CAIRN_CONF=$T/small.conf crun --volume lru1:l1 -- sh -c 'head -c 2048 /dev/zero > l1/f'
sleep 1.1
CAIRN_CONF=$T/small.conf crun --volume lru2:l2 -- sh -c 'head -c 2048 /dev/zero > l2/f'
check "cache: below CacheMax nothing is evicted" [ -d "$T/cache/default/lru1/u$uid/data" ]
sleep 1.1
CAIRN_CONF=$T/small.conf crun --volume lru3:l3 -- true
check "cache: the least recently used volume is evicted past CacheMax" [ ! -e "$T/cache/default/lru1/u$uid" ]
check "cache: a recent volume stays cached" [ -d "$T/cache/default/lru2/u$uid/data" ]
# lru2 is the oldest now, but a running job holds it.
CAIRN_CONF=$T/small.conf "$CAIRN" run --user "$USER_" --volume lru2:l2 -- sleep 3 2>/dev/null &
holder=$!
sleep 1
CAIRN_CONF=$T/small.conf crun --volume lru5:l5 -- sh -c 'head -c 2048 /dev/zero > l5/f'
CAIRN_CONF=$T/small.conf crun --volume lru6:l6 -- true
check "cache: a volume held by a running job is never evicted" [ -d "$T/cache/default/lru2/u$uid/data" ]
wait $holder
check "cache: an evicted volume still hydrates from storage" [ "$(CAIRN_CONF=$T/small.conf crun --volume lru1:l1 -- stat -c %s l1/f)" = 2048 ]

# 10b. Sandbox limits through cgroups: a memory hog and a fork bomb are contained.
cp "$T/cairn.conf" "$T/limits.conf"
printf 'SandboxMemory = 64M\nSandboxPids = 64\nSandboxCPUs = 1\n' >>"$T/limits.conf"
out=$(CAIRN_CONF=$T/limits.conf "$CAIRN" run --user "$USER_" --sandbox -- sh -c \
	'python3 -c "a = bytearray(256 << 20)" 2>/dev/null; echo hog=$?; sh -c "i=0; while [ \$i -lt 200 ]; do sleep 3 & i=\$((i+1)); done" 2>/dev/null; set -- /proc/[0-9]*; echo forks=$#' 2>/dev/null)
check "sandbox limits: a memory hog is killed (SandboxMemory)" grep -q '^hog=137' <<<"$out"
procs=$(sed -n 's/^forks=//p' <<<"$out")
check "sandbox limits: a fork bomb stops at SandboxPids" [ "${procs:-999}" -le 64 ]
check "sandbox limits: the job's cgroup is removed afterwards" bash -c "! ls -d /sys/fs/cgroup/pids/cairn/run* 2>/dev/null | grep -q ."

# 10b2. The sandbox's working directory is opened by the user: a symlink to a
#      root-only directory does not smuggle it into the sandbox.
mkdir -p "$T/secret" && echo TOPSECRET >"$T/secret/f" && chmod 0700 "$T/secret"
ln -sfn "$T/secret" "$T/work/sneaky"
out=$(cd "$T/work/sneaky" 2>/dev/null && "$CAIRN" run --user "$USER_" --sandbox -- cat f 2>&1)
check "sandbox: a working directory the user cannot open is refused, not mounted" bash -c "! grep -q TOPSECRET <<<'$out'"

# 10c. cairn rm: refused while a job holds the volume, then removes it.
crun --volume doomed:dm -- sh -c 'echo x > dm/f'
"$CAIRN" run --user "$USER_" --volume doomed:dm -- sleep 3 2>/dev/null &
holder=$!
sleep 1
out=$("$CAIRN" rm doomed 2>&1)
check "rm: refused while a job holds the volume" [ $? -eq 1 ]
check "rm: the refusal names the holder" grep -q 'in use by job run' <<<"$out"
wait $holder
"$CAIRN" rm doomed >/dev/null
check "rm: removes a volume nobody holds" [ $? -eq 0 ]
check "rm: the volume is gone from the list" sh -c "! '$CAIRN' list | grep -q '^doomed '"
"$CAIRN" show doomed 2>/dev/null
check "rm: show of a removed volume fails" [ $? -eq 1 ]

# 10d. rm deletes the contents no other volume names (a collection, gc.h);
#      contents shared with a fork stay until the fork goes too.
gcjson() { "$CAIRN" gc --dry-run --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
head -c 3000000 /dev/urandom >"$T/gc-big"
chmod 644 "$T/gc-big"
crun --volume gc-a:ga -- sh -c "cp '$T/gc-big' ga/big && echo only-in-a > ga/small"
crun --volume gc-b:gb -- sh -c 'echo only-in-b > gb/small'
"$CAIRN" fork gc-a gc-c >/dev/null
sleep 3 # older than any collection to come, by more than its clock margin
objects0=$(gcjson objects)
out=$("$CAIRN" rm gc-a 2>&1)
check "gc: rm of a volume whose contents a fork shares deletes none of them" \
	grep -q 'deleted 0 of' <<<"$out"
check "gc: nothing is left unnamed after that rm" [ "$(gcjson deleted)" = 0 ]
"$CAIRN" get gc-c big "$T/gc-got" 2>/dev/null
check "gc: the fork still reads the removed volume's file" cmp -s "$T/gc-big" "$T/gc-got"
out=$("$CAIRN" rm gc-c 2>&1)
check "gc: rm of the last volume naming them deletes the contents (people's output)" \
	grep -Eq 'deleted [1-9][0-9]* of [0-9]+ stored contents' <<<"$out"
check "gc: the store holds fewer objects after the rm" [ "$(gcjson objects)" -lt "$objects0" ]
"$CAIRN" get gc-b small "$T/gc-got" 2>/dev/null
check "gc: another volume's contents are kept" grep -qx only-in-b "$T/gc-got"
case $CAIRN_TEST_STORAGE in
file://*)
	store=${CAIRN_TEST_STORAGE#file://}
	big_sha=$(sha256sum "$T/gc-big" | cut -c1-64)
	check "gc: the removed file's object is gone from the store" \
		test ! -e "$store/default/objects/${big_sha:0:2}/$big_sha"
	# A collection holds WS/gc/lock: a second one is refused, rm defers.
	# (A commit would wait for the collection to end: write gc-d first.)
	crun --volume gc-d:gd -- sh -c 'echo d > gd/f'
	printf '{"nonce":"%s","by":"a test","time":%s}' "$(printf '%032d' 7)" "$(date +%s)" \
		>"$store/default/gc/lock"
	out=$("$CAIRN" gc 2>&1)
	check "gc: refused while another collection holds the lock, naming it" \
		bash -c "[ $? = 1 ] && grep -q 'another collection.*a test' <<<'$out'"
	"$CAIRN" rm gc-d >"$T/rm.out" 2>&1
	check "gc: rm still removes the volume while a collection runs" [ $? -eq 0 ]
	check "gc: ... and says its contents wait for the next collection" grep -q 'not collected' "$T/rm.out"
	# A collector that died long ago (by the store's clock) does not block: its
	# lock is taken over.
	printf '{"nonce":"%s","by":"a test","time":1}' "$(printf '%032d' 8)" >"$store/default/gc/lock"
	touch -d '20 minutes ago' "$store/default/gc/lock"
	check "gc: a dead collector's lock is taken over" "$CAIRN" gc
	check "gc: the lock is dropped afterwards" test ! -e "$store/default/gc/lock"
	# A sync commits only once a running collection has ended (it may not
	# have seen the new manifest), and does not wait for a dead one.
	printf '{"nonce":"%s","by":"a test","time":1}' "$(printf '%032d' 9)" >"$store/default/gc/lock"
	crun --volume gc-w:gw -- sh -c 'echo w > gw/f' &
	waiter=$!
	sleep 3
	check "gc: a sync waits while a collection holds the lock" kill -0 $waiter
	rm -f "$store/default/gc/lock"
	wait $waiter
	check "gc: ... and commits once it is dropped" sh -c "[ $? = 0 ] && '$CAIRN' get gc-w f - | grep -qx w"
	printf '{"nonce":"%s","by":"a test","time":1}' "$(printf '%032d' 10)" >"$store/default/gc/lock"
	touch -d '20 minutes ago' "$store/default/gc/lock"
	timeout 60 "$CAIRN" run --user "$USER_" --volume gc-w:gw -- sh -c 'echo w2 > gw/f' 2>/dev/null
	check "gc: a sync does not wait for a dead collector's lock" sh -c "[ $? = 0 ] && '$CAIRN' get gc-w f - | grep -qx w2"
	rm -f "$store/default/gc/lock"
	;;
esac # (on s3:// the same code runs; the checks above read the store's files)
"$CAIRN" gc --dry-run >/dev/null
check "gc: a dry run leaves the store alone (and is for admins; root is one)" [ $? -eq 0 ]
# Volumes may be named like the directories of a volume's keys.
crun --volume versions:vv -- sh -c 'echo v > vv/f'
crun --volume state:vs -- sh -c 'echo s > vs/f'
"$CAIRN" gc >/dev/null
check "gc: volumes named versions and state do not confuse the collection" [ $? -eq 0 ]
"$CAIRN" rm state >/dev/null 2>&1
check "gc: ... nor rm" sh -c "'$CAIRN' get versions f - | grep -qx v && ! '$CAIRN' show state >/dev/null 2>&1"

# 10e. A sync that re-used a stored content (no upload) which a collection then
#      deletes before the commit finds it gone and uploads it again.
head -c 2000000 /dev/urandom >"$T/gc-x"
chmod 644 "$T/gc-x"
crun --volume gc-src:gs -- sh -c "cp '$T/gc-x' gs/x"
sleep 3
rm -f "$T/gc-go" "$T/gc-go.waiting"
CAIRN_TEST_PAUSE_BEFORE_COMMIT=$T/gc-go crun --volume gc-dst:gt -- sh -c "cp '$T/gc-x' gt/x" &
writer=$!
for _ in $(seq 100); do [ -e "$T/gc-go.waiting" ] && break; sleep 0.1; done
out=$("$CAIRN" rm gc-src 2>&1) # its collection deletes x: no manifest names it yet
touch "$T/gc-go"
wait $writer
check "gc: the paused sync committed after all" [ $? -eq 0 ]
check "gc: the collection did delete the content the sync relied on" grep -Eq 'deleted [1-9]' <<<"$out"
"$CAIRN" get gc-dst x "$T/gc-got" 2>/dev/null
check "gc: the sync's version reads back whole (the content went up again)" cmp -s "$T/gc-x" "$T/gc-got"

# 10f. A fork whose source is removed and collected between the read and the
#      commit fails instead of naming deleted contents.
crun --volume gc-f:gf -- sh -c "head -c 100000 /dev/urandom > gf/r"
sleep 3
rm -f "$T/gc-go" "$T/gc-go.waiting"
CAIRN_TEST_PAUSE_BEFORE_COMMIT=$T/gc-go "$CAIRN" fork gc-f gc-g >"$T/fork.out" 2>&1 &
forker=$!
for _ in $(seq 100); do [ -e "$T/gc-go.waiting" ] && break; sleep 0.1; done
"$CAIRN" rm gc-f >/dev/null 2>&1
touch "$T/gc-go"
wait $forker
check "gc: a fork of a version removed and collected meanwhile fails" [ $? -eq 1 ]
check "gc: the failed fork says why" grep -q 'was removed while it was copied' "$T/fork.out"
"$CAIRN" show gc-g >/dev/null 2>&1
check "gc: the failed fork made no version" [ $? -ne 0 ] 
rm -f "$T/gc-go" "$T/gc-go.waiting"

# 10g. A volume removed and made again from another node: a cache holding the
#      old volume's version of the same number is not taken for the new one.
crun --volume again:ag -- sh -c 'echo old > ag/f'
"$CAIRN" rm again >/dev/null 2>&1
CAIRN_CONF=$T/other.conf crun --volume again:ag -- sh -c 'echo new > ag/f'
out=$(crun --volume again:ag -- cat ag/f)
check "cache: a volume removed and made again is not read from the old one's cache" [ "$out" = new ]

# 11. CLI read side.
check "cli: list shows the volume" sh -c "'$CAIRN' list | grep -q '^agent '"
check "cli: list --json is JSON" sh -c "'$CAIRN' list --json | python3 -c 'import json,sys; json.load(sys.stdin)'"
check "cli: show --json has the version" sh -c "'$CAIRN' show agent --json | grep -q '\"version\"'"
# Owner, creation and last use, kept in the volume's state.
meta=$("$CAIRN" show agent --json | python3 -c 'import json,sys; d=json.load(sys.stdin)
print(d["owner"]["name"], d["owner"]["uid"], d["created"] > 0, d["last_used"]["user"],
      d["last_used"]["job"].startswith("run"), d["last_used"]["time"] >= d["created"])' 2>&1)
check "cli: show --json names the owner (the user whose job created it), creation and last use" \
	[ "$meta" = "$USER_ $(id -u "$USER_") True $USER_ True True" ]
check "cli: show names the owner for people" sh -c "'$CAIRN' show agent | grep -q '^Owner: *$USER_\$'"
check "cli: list has an owner column" sh -c "'$CAIRN' list | grep -Eq '^agent +$USER_ '"
check "cli: ls lists the file" sh -c "'$CAIRN' ls agent | grep -q 'memory.md'"
"$CAIRN" get agent memory.md "$T/got.md"
check "cli: get copies a file out" [ "$(cat "$T/got.md")" = one ]
"$CAIRN" get agent nosuch "$T/x" 2>/dev/null
check "cli: get of a missing file fails" [ $? = 1 ]
"$CAIRN" show 2>/dev/null
check "cli: usage error exits 2" [ $? = 2 ]

# 12. versions, rollback and fork: new versions made of old manifests; no data
#     is copied (contents are shared by the workspace).
crun --volume hist:h -- sh -c 'echo one > h/f'
crun --volume hist:h -- sh -c 'echo two > h/f; echo extra > h/g'
crun --volume hist:h -- sh -c 'rm h/g; echo three > h/f'
nver() { "$CAIRN" versions "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
check "versions: lists every version" [ "$(nver hist)" = 3 ]
check "versions: marks the current one" sh -c "'$CAIRN' versions hist | grep -E '^ +3 .*\(current\)\$' >/dev/null"
out=$("$CAIRN" rollback hist 2 2>&1)
check "rollback: makes version 4 with version 2's contents" \
	[ "$out" = "volume hist: version 4 has the contents of version 2 (versions 3 to 3 are kept)" ]
check "rollback: the files are version 2's" [ "$(crun --volume hist:h -- sh -c 'cat h/f h/g')" = "$(printf 'two\nextra')" ]
check "rollback: the newer versions are kept" [ "$(nver hist)" = 4 ]
"$CAIRN" fork hist hist-copy --owner "$USER_" >/dev/null
check "fork: the new volume has the source's files" [ "$(crun --volume hist-copy:c -- cat c/f)" = two ]
check "fork: it is owned by --owner" sh -c "'$CAIRN' show hist-copy | grep -q '^Owner: *$USER_\$'"
crun --volume hist-copy:c -- sh -c 'echo forked > c/f'
check "fork: writing the fork leaves the source as it was" [ "$(crun --volume hist:h -- cat h/f)" = two ]
"$CAIRN" fork hist hist-copy 2>"$T/err"
rc=$?
check "fork: onto an existing volume fails (1)" bash -c "[ $rc = 1 ] && grep -q 'exists already' '$T/err'"
"$CAIRN" rollback hist 4 2>"$T/err"
rc=$?
check "rollback: to the current version fails (1)" bash -c "[ $rc = 1 ] && grep -q 'roll back to an older one' '$T/err'"
"$CAIRN" rollback hist x 2>/dev/null
check "rollback: a version that is not a number is a usage error (2)" [ $? = 2 ]
# history: what each job did, kept with the volume.
crun --volume act:a -- sh -c 'echo 1 > a/one; echo 2 > a/two'
crun --volume act:a -- true
act=$("$CAIRN" history act --json | python3 -c 'import json,sys
h = json.load(sys.stdin)
print(len(h), h[0]["user"], h[0]["sync"]["committed"], h[0]["sync"]["uploaded"], h[1]["sync"]["committed"], h[1]["hydrate"]["cached"], h[0]["job"].startswith("run"))' 2>&1)
check "history: one entry per job, with what it uploaded and what it found in the cache" \
	[ "$act" = "2 $USER_ True 2 False 2 True" ]
check "history: for people, one line per job" \
	[ "$("$CAIRN" history act | grep -c " job run[0-9]* ($USER_): waited ")" = 2 ]
check "show: the last job's activity" sh -c "'$CAIRN' show act | grep -q '^Last job: .*no changes\$'"
crun --volume act:a:ro -- cat a/one >/dev/null
check "history: a read-only job is noted too" \
	sh -c "'$CAIRN' history act | tail -n 1 | grep -q 'mounted read-only\$'"
crun --volume hist:h -- sleep 3 &
holder=$!
sleep 1
"$CAIRN" rollback hist 1 2>"$T/err"
rc=$?
check "rollback: refused while a job holds the volume, naming it" \
	bash -c "[ $rc = 1 ] && grep -q 'in use by job run' '$T/err'"
wait $holder
finish
