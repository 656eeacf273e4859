#!/usr/bin/env bash
# Who may use a volume: the owner (the user whose job created it), the users and
# groups it is shared with (read-only or read-write), admins (AdminGroup), and,
# while it has no shares, every job of its workspace. Checked cell by cell with
# `cairn run` as two real users, and with `cairn create`, `share`, `unshare`,
# `show` as root. Then the quotas: MaxVolumesPerWorkspace and MaxFileSize. The Slurm side (a job refused, a job read-only) is in
# test_slurm.sh: the same check runs in the Prolog.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CAIRN=$REPO/build/cairn
OWNER=cairntest
OTHER=cairnother
for u in "$OWNER" "$OTHER"; do id "$u" >/dev/null 2>&1 || useradd -m "$u"; done

T=$(mktemp -d /tmp/cairn-perm.XXXXXX)
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
chmod 755 "$T"
install -d -o "$OWNER" "$T/w-$OWNER"
install -d -o "$OTHER" "$T/w-$OTHER"
# The test users run cairn and a client that is not cairn: copies they can
# reach wherever the clone is (a clone in a 0700 directory, as from mktemp -d).
install -m 755 "$CAIRN" "$T/cairn"
CAIRN=$T/cairn
RAW_REQUEST=$T/raw_request.py
install -m 644 "$REPO/tests/integration/cli/raw_request.py" "$RAW_REQUEST"
cat >"$T/cairn.conf" <<CONF
Storage = file://$T/store
CacheDir = $T/cache
StateDir = $T/run
CONF
export CAIRN_CONF=$T/cairn.conf

# as USER COMMAND...: cairn run as USER in their own directory with volume perm
# at v; stdout in $T/out, stderr in $T/err, the exit status returned.
as() {
	local u=$1
	shift
	(cd "$T/w-$u" && "$CAIRN" run --user "$u" --volume perm:v -- "$@" >"$T/out" 2>"$T/err")
}
# version: the volume's current version
version() { "$CAIRN" show perm --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; }

# The owner's job creates the volume.
as "$OWNER" sh -c 'echo mine > v/a'
check "perm: the first job creates the volume" [ "$(version)" = 1 ]
check "perm: its user is the owner" sh -c "'$CAIRN' show perm | grep -q '^Owner: *$OWNER\$'"
check "perm: no shares: show says every member of the workspace may use it" \
	sh -c "'$CAIRN' show perm | grep -q '^Shares: *none'"

# No shares: another member of the workspace reads and writes.
as "$OTHER" sh -c 'cat v/a && echo theirs > v/b'
check "perm: no shares: another user of the workspace mounts it read-write" \
	[ "$(cat "$T/out"):$(version)" = "mine:2" ]

# Shared with the owner only: the other user is refused, with one line saying
# who owns it and what to run.
"$CAIRN" share perm --user "$OWNER" --rw >/dev/null
as "$OTHER" cat v/a
rc=$?
check "perm: shared with the owner only: another user's job fails" [ "$rc" = 1 ]
check "perm: ... before the command runs" [ ! -s "$T/out" ]
check "perm: ... with one line naming the volume, the user, the owner and the fix" \
	grep -qx "cairn: volume perm: user $OTHER may not use it: it belongs to $OWNER and is shared only with user $OWNER (rw); ask $OWNER or an admin to run 'cairn share perm --user $OTHER --rw' (or --ro)" "$T/err"
as "$OWNER" sh -c 'echo again > v/a'
check "perm: the owner still writes" [ "$(version)" = 3 ]

# A read-only share mounts read-only, whatever the job asked for, and says so.
"$CAIRN" share perm --user "$OTHER" --ro >/dev/null
as "$OTHER" sh -c 'cat v/a; echo no > v/c 2>/dev/null && echo wrote || echo refused'
check "perm: a read-only share mounts the volume" grep -qx again "$T/out"
check "perm: ... read-only (a write fails)" grep -qx refused "$T/out"
check "perm: ... and the job's output says so" \
	grep -qx "cairn: volume perm: mounted read-only: $OTHER has a read-only share of it (nothing is synced back)" "$T/err"
check "perm: ... and nothing is committed" [ "$(version)" = 3 ]

# A group share (the other user's own group) read-write wins over the user's ro.
"$CAIRN" share perm --group "$(id -gn "$OTHER")" --rw >/dev/null
as "$OTHER" sh -c 'echo group > v/g'
check "perm: a read-write share to the user's group lets them write" [ "$(version)" = 4 ]
"$CAIRN" unshare perm --group "$(id -gn "$OTHER")" >/dev/null
as "$OTHER" sh -c 'echo no > v/h 2>/dev/null; true'
check "perm: unsharing the group leaves the user's read-only share" [ "$(version)" = 4 ]
"$CAIRN" unshare perm --user "$OTHER" >/dev/null
as "$OTHER" true
check "perm: unsharing the user refuses them again" [ $? = 1 ]

# Admins (AdminGroup) may use every volume.
cp "$T/cairn.conf" "$T/admin.conf"
echo "AdminGroup = $(id -gn "$OTHER")" >>"$T/admin.conf"
CAIRN_CONF=$T/admin.conf as "$OTHER" sh -c 'echo admin > v/adm'
check "perm: a member of AdminGroup writes a volume shared with others only" \
	[ "$(CAIRN_CONF=$T/admin.conf version)" = 5 ]

# show lists the shares, for people and as JSON.
"$CAIRN" share perm --user "$OTHER" --ro >/dev/null
check "perm: show lists the shares" \
	sh -c "'$CAIRN' show perm | grep -qx 'Shares: *user $OWNER (rw), user $OTHER (ro)'"
check "perm: show --json lists the shares" \
	[ "$("$CAIRN" show perm --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["shares"])')" = \
		"[{'kind': 'user', 'name': '$OWNER', 'mode': 'rw'}, {'kind': 'user', 'name': '$OTHER', 'mode': 'ro'}]" ]
"$CAIRN" share perm --user "$OTHER" --rw >/dev/null
check "perm: sharing again changes the mode in place" \
	sh -c "'$CAIRN' show perm | grep -qx 'Shares: *user $OWNER (rw), user $OTHER (rw)'"

check "perm: list --owner shows only that owner's volumes" \
	sh -c "'$CAIRN' list --owner '$OWNER' | grep -q '^perm ' && ! '$CAIRN' list --owner '$OTHER' | grep -q '^perm '"

# create: an empty volume owned by the named user, usable at once.
"$CAIRN" create fresh --owner "$OTHER" >/dev/null
check "perm: create makes an empty volume owned by --owner" \
	sh -c "'$CAIRN' show fresh | grep -q '^Owner: *$OTHER\$' && '$CAIRN' list | grep -Eq '^fresh +$OTHER +0 '"
"$CAIRN" create fresh --owner "$OTHER" 2>"$T/err"
rc=$?
check "perm: create of an existing volume fails (exit 1) and says so" bash -c "[ $rc = 1 ] && grep -q 'exists already' '$T/err'"
(cd "$T/w-$OWNER" && "$CAIRN" run --user "$OWNER" --volume fresh:f -- sh -c 'echo x > f/x' 2>/dev/null)
check "perm: a created volume takes its first version from a job; the owner stays" \
	sh -c "'$CAIRN' show fresh | grep -q '^Owner: *$OTHER\$' && '$CAIRN' show fresh --json | grep -q '\"version\": 1'"

# Quotas. MaxVolumesPerWorkspace: a job may not create one more volume; the
# existing ones stay usable; create and fork are refused too.
nvol=$("$CAIRN" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
cp "$T/cairn.conf" "$T/quota.conf"
echo "MaxVolumesPerWorkspace = $nvol" >>"$T/quota.conf"
(cd "$T/w-$OWNER" && CAIRN_CONF=$T/quota.conf "$CAIRN" run --user "$OWNER" --volume one-more:m -- true 2>"$T/err")
rc=$?
check "quota: a job that would create volume $((nvol + 1)) fails (MaxVolumesPerWorkspace = $nvol)" \
	bash -c "[ $rc = 1 ] && grep -q 'volume one-more: workspace default has $nvol volumes, the most this cluster allows (MaxVolumesPerWorkspace = $nvol)' '$T/err'"
CAIRN_CONF=$T/quota.conf as "$OWNER" true
check "quota: an existing volume stays usable at the limit" [ $? = 0 ]
CAIRN_CONF=$T/quota.conf "$CAIRN" create one-more --owner "$OWNER" 2>/dev/null
check "quota: create is refused at the limit" [ $? = 1 ]
CAIRN_CONF=$T/quota.conf "$CAIRN" fork perm one-more 2>/dev/null
check "quota: fork is refused at the limit" [ $? = 1 ]
check "quota: nothing was created" [ "$("$CAIRN" list | grep -c '^one-more ')" = 0 ]

# MaxFileSize: a larger file is left out of the version with an error line
# naming it, the rest commits, and cairn run exits 1.
cp "$T/cairn.conf" "$T/size.conf"
echo "MaxFileSize = 1K" >>"$T/size.conf"
CAIRN_CONF=$T/size.conf as "$OWNER" sh -c 'head -c 2000 /dev/zero > v/too-big; echo fine > v/small'
rc=$?
check "quota: a job that wrote a file over MaxFileSize ends with status 1" [ "$rc" = 1 ]
check "quota: ... and one error line naming the file and the limit" \
	grep -qx "cairn: volume perm: error: 1 file larger than MaxFileSize (1.0 KiB) not synced, e.g. too-big; the rest of the version is; keep such files out of the volume or split them" "$T/err"
check "quota: the rest of the version is committed" \
	sh -c "'$CAIRN' ls perm | grep -q ' small\$' && ! '$CAIRN' ls perm | grep -q too-big"

# The CLI as a user: `cairn serve` (root) answers on a socket; users run the
# volume commands through it, each volume checked against their grants.
"$CAIRN" serve --socket "$T/cli.sock" 2>"$T/serve.err" &
SERVER=$!
for _ in $(seq 1 50); do [ -S "$T/cli.sock" ] && break; sleep 0.1; done
check "cli as user: cairn serve listens on its socket" [ -S "$T/cli.sock" ]
# user USER ARGS...: cairn as USER through the server; stdout in $T/out, stderr in $T/err
user() {
	local u=$1
	shift
	(cd "$T/w-$u" && runuser -u "$u" -- env CAIRN_CLI_SOCKET="$T/cli.sock" "$CAIRN" "$@" \
		>"$T/out" 2>"$T/err")
}
"$CAIRN" unshare perm --user "$OTHER" >/dev/null # perm: shared with the owner only now
user "$OWNER" list
check "cli as user: the owner lists the volume" grep -Eq "^perm +$OWNER " "$T/out"
user "$OTHER" list
check "cli as user: a user without a grant does not see it in the list" \
	bash -c "! grep -q '^perm ' '$T/out' && grep -q '^fresh ' '$T/out'"
user "$OTHER" show perm
rc=$?
check "cli as user: show of a volume without a grant fails (1), naming the owner" \
	bash -c "[ $rc = 1 ] && grep -q 'user $OTHER may not read it; ask its owner ($OWNER)' '$T/err'"
user "$OWNER" get perm small "$T/w-$OWNER/got.txt"
check "cli as user: get DEST writes the file, owned by the user" \
	[ "$(cat "$T/w-$OWNER/got.txt" 2>/dev/null):$(stat -c %U "$T/w-$OWNER/got.txt" 2>/dev/null)" = "fine:$OWNER" ]
user "$OTHER" share perm --user "$OTHER" --rw
rc=$?
check "cli as user: only the owner may share (another user fails with 1)" \
	bash -c "[ $rc = 1 ] && grep -q 'only its owner or an admin may change who may use it' '$T/err'"
user "$OWNER" share perm --user "$OTHER" --ro
check "cli as user: the owner shares the volume" [ $? = 0 ]
user "$OTHER" get perm small -
check "cli as user: a read-only grantee reads a file" [ "$(cat "$T/out")" = fine ]
user "$OTHER" rm perm
rc=$?
check "cli as user: a read-only grantee may not remove it (1)" \
	bash -c "[ $rc = 1 ] && grep -q 'may not change it' '$T/err'"
user "$OTHER" rollback perm 1
check "cli as user: ... nor roll it back" [ $? = 1 ]
user "$OTHER" versions perm
check "cli as user: ... but lists its versions" grep -q '(current)' "$T/out"
user "$OTHER" create theirs
check "cli as user: a user creates a volume, owned by them" \
	sh -c "'$CAIRN' show theirs | grep -q '^Owner: *$OTHER\$'"
user "$OTHER" create for-someone --owner "$OWNER"
check "cli as user: ... but not for someone else" [ $? = 1 ]
user "$OTHER" fork perm their-fork
check "cli as user: a reader forks a volume into one of their own" \
	sh -c "'$CAIRN' show their-fork | grep -q '^Owner: *$OTHER\$'"
user "$OTHER" get perm small
check "cli as user: get without DEST writes PATH's name in the user's directory, as the user" \
	[ "$(cat "$T/w-$OTHER/small" 2>/dev/null):$(stat -c %U "$T/w-$OTHER/small" 2>/dev/null)" = "fine:$OTHER" ]
# A request made by hand, naming a DEST for root to write: refused, nothing written.
runuser -u "$OTHER" -- python3 "$RAW_REQUEST" "$T/cli.sock" get perm small "$T/root-wrote-this" >"$T/out" 2>&1
check "cli as user: the server refuses a DEST other than '-' (root writes nowhere)" \
	bash -c "[ ! -e '$T/root-wrote-this' ] && grep -q '^x 512' '$T/out'"
# A directory handed over as standard output: refused.
runuser -u "$OTHER" -- python3 "$RAW_REQUEST" "$T/cli.sock" --stdout-dir "$T/w-$OTHER" list >"$T/out" 2>&1
check "cli as user: the server refuses a directory as a standard stream" \
	grep -q '^X cairn: the server takes files, pipes, sockets or terminals' "$T/out"
"$CAIRN" create open-vol --owner "$OWNER" >/dev/null
user "$OTHER" rm open-vol
rc=$?
check "cli as user: an unshared volume is removed only by its owner or an admin" \
	bash -c "[ $rc = 1 ] && grep -q 'is not shared: only its owner' '$T/err' && '$CAIRN' show open-vol >/dev/null"
user "$OWNER" rm open-vol
check "cli as user: ... its owner removes it" [ $? = 0 ]
user "$OWNER" gc
rc=$?
check "cli as user: cairn gc is for admins" bash -c "[ $rc = 1 ] && grep -q 'only an admin' '$T/err'"
user "$OWNER" run -- true
check "cli as user: cairn run is not served (it needs root)" [ $? = 1 ]
user "$OWNER" lint /dev/null
check "cli as user: cairn lint runs locally" [ $? = 0 ]
kill "$SERVER" 2>/dev/null
wait "$SERVER" 2>/dev/null
SERVER=""
user "$OWNER" list
rc=$?
check "cli as user: without the server a user gets one line saying what to do" \
	bash -c "[ $rc = 1 ] && grep -q 'needs root, or the Cairn server for users' '$T/err'"

# Mistakes: exit 1 with a reason, 2 for usage.
"$CAIRN" share perm --user no-such-user-x --rw 2>"$T/err"
rc=$?
check "perm: share with an unknown user fails (1) naming it" bash -c "[ $rc = 1 ] && grep -q 'no-such-user-x: no such user' '$T/err'"
"$CAIRN" share nosuchvol --user "$OWNER" --rw 2>"$T/err"
rc=$?
check "perm: share of a missing volume fails (1)" bash -c "[ $rc = 1 ] && grep -q 'does not exist' '$T/err'"
"$CAIRN" unshare perm --group "$(id -gn "$OWNER")" 2>"$T/err"
rc=$?
check "perm: unshare of a share that is not there fails (1)" bash -c "[ $rc = 1 ] && grep -q 'is not shared with group' '$T/err'"
"$CAIRN" share perm --user "$OWNER" 2>/dev/null
check "perm: share without --ro or --rw is a usage error (2)" [ $? = 2 ]
"$CAIRN" share perm --user "$OWNER" --group "$OWNER" --rw 2>/dev/null
check "perm: share with both --user and --group is a usage error (2)" [ $? = 2 ]
"$CAIRN" create 'bad/name' --owner "$OWNER" 2>/dev/null
check "perm: create with a bad name is a usage error (2)" [ $? = 2 ]
finish
