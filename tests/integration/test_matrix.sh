#!/usr/bin/env bash
# The permission matrix: five real users, created here, in five roles against
# one volume `mx` of workspace (account) `proj`, owned by `owner` and shared
# read-only with group cairnmx:
#   owner   the user whose job created it
#   member  a user of the same workspace without a grant
#   grouped a member of the group it is shared with (read-only)
#   other   a user of another workspace (account `elsewhere`)
#   admin   a member of AdminGroup
# x the actions: mount read-write and read-only in a real Slurm job, and get,
# list, share, unshare and rm through the CLI server (`cairn serve`) as that
# user. Every cell is one check. rm runs last, by the admin.
# The cluster has Slurm's accounting (slurmdbd): account proj has the owner,
# member, grouped and admin users, account elsewhere the other user. A second
# volume `open` of proj, never shared, is open to proj's members only: the
# member mounts, reads and removes it; the other user, even in a job charged
# to proj, cannot.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
STATE=$(mktemp -d /tmp/cairn-matrix.XXXXXX)
export CAIRN_TEST_STATE=$STATE
declare -A NAME=([owner]=cairnmxowner [member]=cairnmxmember [grouped]=cairnmxgrouped
	[other]=cairnmxother [admin]=cairnmxadmin)
ROLES=(owner member grouped other admin)
MADE_USERS=()
MADE_GROUPS=()
SERVER=""
cleanup() {
	[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
	"$REPO/tests/cluster" down --state "$STATE" >/dev/null 2>&1
	local u g
	for u in "${MADE_USERS[@]}"; do userdel -r "$u" >/dev/null 2>&1; done
	for g in "${MADE_GROUPS[@]}"; do groupdel "$g" >/dev/null 2>&1; done
	rm -rf "$STATE"
}
trap cleanup EXIT

for g in cairnmx cairnmxadmins; do
	getent group "$g" >/dev/null || { groupadd "$g" && MADE_GROUPS+=("$g"); }
done
for r in "${ROLES[@]}"; do
	u=${NAME[$r]}
	id "$u" >/dev/null 2>&1 || { useradd -m "$u" && MADE_USERS+=("$u"); }
done
usermod -aG cairnmx "${NAME[grouped]}"
usermod -aG cairnmxadmins "${NAME[admin]}"

if ! env_lines=$("$REPO/tests/cluster" up --state "$STATE" --clean --accounting); then
	fail "matrix: the test cluster comes up" "tests/cluster up failed"
	exit 1
fi
eval "$env_lines"
pass "matrix: the test cluster comes up"
sacctmgr -i add account proj,elsewhere >/dev/null &&
	sacctmgr -i add user "${NAME[owner]},${NAME[member]},${NAME[grouped]},${NAME[admin]}" account=proj >/dev/null &&
	sacctmgr -i add user "${NAME[other]}" account=elsewhere >/dev/null
check "matrix: accounts proj and elsewhere with their users in slurmdbd" \
	bash -c "[ \"\$(sacctmgr -nP show assoc where account=proj format=user | grep -c .)\" -ge 4 ]"
echo "AdminGroup = cairnmxadmins" >>"$CAIRN_CONF"
CAIRN=$CAIRN_PREFIX/bin/cairn
[ -x "$CAIRN" ] || CAIRN=$REPO/build/cairn

"$CAIRN" serve --socket "$STATE/cli.sock" 2>"$STATE/serve.err" &
SERVER=$!
for _ in $(seq 1 50); do [ -S "$STATE/cli.sock" ] && break; sleep 0.1; done

home() { getent passwd "${NAME[$1]}" | cut -d: -f6; }
# job ROLE SPEC [ACCOUNT]: a Slurm job of ROLE's user (account proj, or
# elsewhere for other) with --volume=SPEC that reads f and tries to write w.
# Prints the job id.
job() {
	local r=$1 spec=$2 h acct=${3:-proj}
	h=$(home "$r")
	[ "$r" = other ] && [ -z "${3:-}" ] && acct=elsewhere
	cat >"$h/mx-job.sh" <<'S'
#!/bin/bash
cat .mx/f 2>/dev/null || echo no-file
echo "$SLURM_JOB_ID" >.mx/w 2>/dev/null && echo wrote || echo refused
S
	chown "${NAME[$r]}": "$h/mx-job.sh"
	SUBMIT_DIR=$h submit_wait "${NAME[$r]}" mx-job.sh -o "$h/mx-%j.txt" -A "$acct" --volume="$spec"
}
# cli ROLE ARGS...: cairn as ROLE's user through the server; the exit status
cli() {
	local r=$1
	shift
	(cd "$(home "$r")" && runuser -u "${NAME[$r]}" -- env CAIRN_CLI_SOCKET="$STATE/cli.sock" \
		"$CAIRN" "$@" >"$STATE/out" 2>"$STATE/err")
}
version() { "$CAIRN" show mx --workspace proj --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; }

# The owner's job creates mx with a file f; then mx is shared read-only with the group.
h=$(home owner)
printf '#!/bin/bash\necho secret-of-owner >.mx/f\n' >"$h/mx-create.sh"
chown "${NAME[owner]}": "$h/mx-create.sh"
j=$(SUBMIT_DIR=$h submit_wait "${NAME[owner]}" mx-create.sh -o "$h/mx-%j.txt" -A proj --volume=mx:.mx)
check "matrix: the owner's first job creates the volume" [ "$(job_state "$j"):$(version)" = COMPLETED:1 ]
"$CAIRN" share mx --workspace proj --group cairnmx --ro >/dev/null
V=$(version)

# Mount read-write and read-only, in real jobs.
for r in "${ROLES[@]}"; do
	for mode in rw ro; do
		spec=mx:.mx
		[ $mode = ro ] && spec=mx:.mx:ro
		before=$(version)
		j=$(job "$r" "$spec")
		o="$(home "$r")/mx-$j.txt"
		st=$(job_state "$j")
		after=$(version)
		case "$r:$mode" in
		owner:rw | admin:rw)
			check "matrix: $r: mount rw: reads and writes, a new version" \
				bash -c "[ $st = COMPLETED ] && grep -qx secret-of-owner '$o' && grep -qx wrote '$o' && [ $after = $((before + 1)) ]" ;;
		owner:ro | admin:ro | grouped:ro)
			check "matrix: $r: mount ro: reads, cannot write" \
				bash -c "[ $st = COMPLETED ] && grep -qx secret-of-owner '$o' && grep -qx refused '$o' && [ $after = $before ]" ;;
		grouped:rw)
			check "matrix: $r: mount rw with a read-only share: mounted read-only, said so" \
				bash -c "[ $st = COMPLETED ] && grep -qx secret-of-owner '$o' && grep -qx refused '$o' && grep -q 'mounted read-only' '$o' && [ $after = $before ]" ;;
		member:*)
			check "matrix: $r: mount $mode: the job fails, naming the owner" \
				bash -c "[ $st = FAILED ] && grep -q 'may not use it: it belongs to ${NAME[owner]}' '$o'" ;;
		other:*)
			# Another workspace: the name is another volume (rw: a new empty one).
			check "matrix: $r: mount $mode: never reaches workspace proj's volume" \
				bash -c "! grep -q secret '$o' && [ $after = $before ]" ;;
		esac
	done
done
assert_node_idle "matrix: the node is idle after the jobs"

# get and list through the server.
for r in "${ROLES[@]}"; do
	cli "$r" get mx f - --workspace proj
	rc=$?
	case $r in
	owner | grouped | admin) check "matrix: $r: get reads a file" [ "$rc:$(cat "$STATE/out")" = 0:secret-of-owner ] ;;
	*) check "matrix: $r: get is refused" bash -c "[ $rc = 1 ] && grep -q 'may not read it' '$STATE/err'" ;;
	esac
	cli "$r" list --workspace proj
	case $r in
	owner | grouped | admin) check "matrix: $r: list shows the volume" grep -q '^mx ' "$STATE/out" ;;
	*) check "matrix: $r: list does not show the volume" bash -c "! grep -q '^mx ' '$STATE/out'" ;;
	esac
done

# share and unshare: the owner and admins only.
for r in "${ROLES[@]}"; do
	cli "$r" share mx --workspace proj --user "${NAME[member]}" --ro
	rc=$?
	case $r in
	owner | admin) check "matrix: $r: share" [ $rc = 0 ] ;;
	*) check "matrix: $r: share is refused" bash -c "[ $rc = 1 ] && grep -q 'only its owner or an admin' '$STATE/err'" ;;
	esac
	"$CAIRN" share mx --workspace proj --user "${NAME[member]}" --ro >/dev/null
	cli "$r" unshare mx --workspace proj --user "${NAME[member]}"
	rc=$?
	case $r in
	owner | admin) check "matrix: $r: unshare" [ $rc = 0 ] ;;
	*) check "matrix: $r: unshare is refused" bash -c "[ $rc = 1 ] && grep -q 'only its owner or an admin' '$STATE/err'" ;;
	esac
	"$CAIRN" unshare mx --workspace proj --user "${NAME[member]}" >/dev/null 2>&1
done

# rm: read-write grantees, the owner and admins. The owner removes a fork of
# mx owned by them (mx stays for the admin's cell, which comes last).
for r in member grouped other; do
	cli "$r" rm mx --workspace proj
	rc=$?
	check "matrix: $r: rm is refused" bash -c "[ $rc = 1 ] && '$CAIRN' show mx --workspace proj >/dev/null"
done
"$CAIRN" fork mx mx-owned --workspace proj --owner "${NAME[owner]}" >/dev/null
"$CAIRN" share mx-owned --workspace proj --group cairnmx --ro >/dev/null
cli owner rm mx-owned --workspace proj
rc=$?
check "matrix: owner: rm" bash -c "[ $rc = 0 ] && ! '$CAIRN' show mx-owned --workspace proj >/dev/null 2>&1"
cli admin rm mx --workspace proj
rc=$?
check "matrix: admin: rm" bash -c "[ $rc = 0 ] && ! '$CAIRN' show mx --workspace proj >/dev/null 2>&1"
# `open`: never shared, so open to proj's members, and to nobody else.
h=$(home owner)
j=$(SUBMIT_DIR=$h submit_wait "${NAME[owner]}" mx-create.sh -o "$h/mx-%j.txt" -A proj --volume=open:.mx)
check "matrix: open: the owner's job creates it, without shares" \
	bash -c "[ $(job_state "$j") = COMPLETED ] && '$CAIRN' show open --workspace proj | grep -q '^Shares: *none'"
j=$(job member open:.mx)
o="$(home member)/mx-$j.txt"
check "matrix: open: member: mount rw: reads and writes (a member of proj)" \
	bash -c "[ $(job_state "$j") = COMPLETED ] && grep -qx secret-of-owner '$o' && grep -qx wrote '$o'"
j=$(job other open:.mx proj)
o="$(home other)/mx-$j.txt"
# Slurm (accounting on, associations not enforced) charges a job asked for an
# account the user has no association with to the user's default account.
check "matrix: open: other: a job asked for proj runs in elsewhere, never reaching proj's volume" \
	bash -c "[ $(job_state "$j") = COMPLETED ] && ! grep -q secret '$o' && scontrol show job $j | grep -q 'Account=elsewhere'"
# A user Slurm's accounting does not know keeps the account asked for: Cairn
# refuses them.
u=$CAIRN_TEST_USER2
uh=$(getent passwd "$u" | cut -d: -f6)
cp "$(home other)/mx-job.sh" "$uh/mx-job.sh" && chown "$u": "$uh/mx-job.sh"
j=$(SUBMIT_DIR=$uh submit_wait "$u" mx-job.sh -o "$uh/mx-%j.txt" -A proj --volume=open:.mx)
o="$uh/mx-$j.txt"
check "matrix: open: a user without any association, charged to proj: the job fails, not a member of workspace proj" \
	bash -c "[ $(job_state "$j") = FAILED ] && ! grep -q secret '$o' && grep -q 'is not a member of workspace proj' '$o' && scontrol show job $j | grep -q 'Account=proj'"
assert_node_idle "matrix: open: the node is idle after the refused job"
cli member get open f - --workspace proj
check "matrix: open: member: get reads a file" [ "$?:$(cat "$STATE/out")" = 0:secret-of-owner ]
cli other get open f - --workspace proj
rc=$?
check "matrix: open: other: get is refused, naming the workspace" \
	bash -c "[ $rc = 1 ] && grep -q 'not a member of workspace proj' '$STATE/err' && [ ! -s '$STATE/out' ]"
cli member list --workspace proj
check "matrix: open: member: list shows it" grep -q '^open ' "$STATE/out"
cli other list --workspace proj
check "matrix: open: other: list does not show it" bash -c "! grep -q '^open ' '$STATE/out'"
cli other create theirs --workspace proj
rc=$?
check "matrix: open: other: create in proj is refused, not a member" \
	bash -c "[ $rc = 1 ] && grep -q 'not a member of workspace proj' '$STATE/err' && ! '$CAIRN' show theirs --workspace proj >/dev/null 2>&1"
cli member create theirs --workspace proj
check "matrix: open: member: create in proj" bash -c "[ $? = 0 ] && '$CAIRN' show theirs --workspace proj | grep -q '^Owner: *${NAME[member]}\$'"
cli other rm open --workspace proj
rc=$?
check "matrix: open: other: rm is refused" bash -c "[ $rc = 1 ] && '$CAIRN' show open --workspace proj >/dev/null"
cli member rm open --workspace proj
rc=$?
check "matrix: open: member: rm (a writer: every member is one)" \
	bash -c "[ $rc = 0 ] && ! '$CAIRN' show open --workspace proj >/dev/null 2>&1"
finish
