#!/usr/bin/env bash
# Volumes through real Slurm jobs: a one-node cluster (slurmctld + slurmd) started
# by tests/cluster, the plugin, Prolog and Epilog installed into a private prefix,
# jobs submitted as an unprivileged user.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
STATE=$(mktemp -d /tmp/cairn-slurm.XXXXXX)
export CAIRN_TEST_STATE=$STATE
cleanup() {
	"$REPO/tests/cluster" down --state "$STATE" >/dev/null 2>&1
	rm -rf "$STATE"
}
trap cleanup EXIT
# Short leases so that the tests of waits, crashes and take-overs run in seconds.
export CAIRN_CLUSTER_CONF_EXTRA=$'LeaseTTL = 6\nLeaseRenew = 2\nLeaseWait = 60'
if ! env_lines=$("$REPO/tests/cluster" up --state "$STATE" --clean); then
	fail "slurm: the test cluster comes up" "tests/cluster up failed"
	exit 1
fi
eval "$env_lines"
pass "slurm: the test cluster comes up"

U=$CAIRN_TEST_USER
HOMEDIR=$(getent passwd "$U" | cut -d: -f6)
W=$HOMEDIR/cairn-it.$$
rm -rf "$W"
mkdir -p "$W"
chown "$U": "$W"
export SUBMIT_DIR=$W
out_of() { cat "$W/out-$1.txt" 2>/dev/null; }
script() { # NAME, body from stdin
	cat >"$W/$1"
	chown "$U": "$W/$1"
}

script agent.sh <<'S'
#!/bin/bash
# volume: agent-state .agent
n=$(cat .agent/count 2>/dev/null || echo 0)
echo $((n + 1)) > .agent/count
echo "run $((n + 1))" >> .agent/memory.md
echo "count=$((n + 1))"
S

# 1. Job 1 writes, job 2 reads back.
j1=$(submit_wait "$U" agent.sh -o "$W/out-%j.txt")
check "slurm: job 1 completes" [ "$(job_state "$j1")" = COMPLETED ]
check "slurm: job 1 prints the hydrate line" grep -q '^cairn: volume agent-state: new and empty' "$W/out-$j1.txt"
check "slurm: job 1 prints the sync line" grep -q '^cairn: volume agent-state: synced version 1' "$W/out-$j1.txt"
j2=$(submit_wait "$U" agent.sh -o "$W/out-%j.txt")
check "slurm: job 2 sees job 1's state" grep -q '^count=2' "$W/out-$j2.txt"
check "slurm: job 2 hydrates version 1 from the cache" grep -q 'version 1, 2 files, .* 2 from cache, 0 fetched' "$W/out-$j2.txt"

# 2. With the cache wiped between jobs.
rm -rf "$STATE/cache"
j3=$(submit_wait "$U" agent.sh -o "$W/out-%j.txt")
check "slurm: after the cache is wiped, job 3 sees job 2's state" grep -q '^count=3' "$W/out-$j3.txt"
check "slurm: job 3 fetched from storage" grep -q '0 from cache, 2 fetched' "$W/out-$j3.txt"
check "slurm: nothing of the volume is left in the working directory" [ -z "$(ls -A "$W/.agent")" ]

# 3. Deletion and symlink round trips.
script links.sh <<'S'
#!/bin/bash
# volume: agent-state .agent
ln -s memory.md .agent/latest
rm .agent/count
S
j=$(submit_wait "$U" links.sh -o "$W/out-%j.txt")
script check-links.sh <<'S'
#!/bin/bash
# volume: agent-state .agent
echo "link=$(readlink .agent/latest)"
echo "count-exists=$(test -e .agent/count && echo yes || echo no)"
S
rm -rf "$STATE/cache"
j=$(submit_wait "$U" check-links.sh -o "$W/out-%j.txt")
check "slurm: a symlink survives as a symlink" grep -q '^link=memory.md' "$W/out-$j.txt"
check "slurm: a deleted file stays deleted" grep -q '^count-exists=no' "$W/out-$j.txt"

# 4. srun steps inside the batch job see the volume.
script steps.sh <<'S'
#!/bin/bash
# volume: agent-state .agent
srun -n1 cat .agent/memory.md | head -1
srun -n1 sh -c 'echo from-step > .agent/step.txt'
S
j=$(submit_wait "$U" steps.sh -o "$W/out-%j.txt")
check "slurm: an srun step reads the volume" grep -q '^run 1' "$W/out-$j.txt"
script check-step.sh <<'S'
#!/bin/bash
# volume: agent-state .agent
cat .agent/step.txt
S
j=$(submit_wait "$U" check-step.sh -o "$W/out-%j.txt")
check "slurm: what an srun step wrote is synced" grep -q '^from-step' "$W/out-$j.txt"

# 5. --volume options, also with --export=NONE, and read-only.
j=$(submit_wait "$U" "$W/check-step.sh" -o "$W/out-%j.txt" --export=NONE)
check "slurm: --export=NONE still mounts the volume" grep -q '^from-step' "$W/out-$j.txt"
script opt.sh <<'S'
#!/bin/bash
echo data > opt/file
cat ro/step.txt
echo x > ro/new 2>/dev/null && echo ro-writable || echo ro-refused
S
j=$(submit_wait "$U" opt.sh -o "$W/out-%j.txt" --volume=opt-vol:opt --volume=agent-state:ro:ro)
check "slurm: --volume mounts a volume" grep -q 'synced version 1' "$W/out-$j.txt"
check "slurm: a :ro volume is readable" grep -q '^from-step' "$W/out-$j.txt"
check "slurm: a :ro volume is not writable" grep -q '^ro-refused' "$W/out-$j.txt"

# 6. A bad annotation fails the job with one message; the node stays idle.
script bad.sh <<'S'
#!/bin/bash
# volume: x .agent
echo should-not-run
S
j=$(submit_wait "$U" bad.sh -o "$W/out-%j.txt")
check "slurm: a bad annotation fails the job" [ "$(job_state "$j")" = FAILED ]
check "slurm: the job's output names the line and the cause" grep -q 'batch script:2: .*too short' "$W/out-$j.txt"
check "slurm: the bad job's script did not run" bash -c "! grep -q should-not-run '$W/out-$j.txt'"
assert_node_idle "slurm: the node stays idle after a user error"
out=$(cd "$W" && runuser -u "$U" -- sbatch --volume='bad/name:x' --wrap true 2>&1)
check "slurm: sbatch rejects a bad --volume before submission" grep -q 'cairn: --volume=bad/name:x' <<<"$out"
script dup.sh <<'S'
#!/bin/bash
# volume: agent-state .a
# volume: agent-state .b
true
S
j=$(submit_wait "$U" dup.sh -o "$W/out-%j.txt")
check "slurm: a duplicate volume fails the job" [ "$(job_state "$j")" = FAILED ]
assert_node_idle "slurm: the node stays idle after a duplicate volume"
script sandbox.sh <<'S'
#!/bin/bash
# sandbox
# volume: agent-state .agent
echo "init=$(cat /proc/1/comm)"
S
j=$(submit_wait "$U" sandbox.sh -o "$W/out-%j.txt")
check "slurm: a '# sandbox' job runs in the sandbox (PID 1 is cairn-init)" grep -qx init=cairn-init "$W/out-$j.txt"

# 7. Placeholders: script arguments, job environment, JSON fields, user, workspace.
script args.sh <<'S'
#!/bin/bash
# volume: data-$args[1] d1
# volume: env-$args[STAGE] d2
# volume: json-$args[CFG.run.id] d3
# volume: $user-$workspace d4
echo "$1" > d1/arg
S
j=$(STAGE=prod CFG='{"run":{"id":"r42"}}' submit_wait "$U" args.sh -o "$W/out-%j.txt" -A proj1 -- first)
check "slurm: \$args[1] resolves to the script's first argument" grep -q '^cairn: volume data-first: synced' "$W/out-$j.txt"
check "slurm: \$args[NAME] resolves from the job environment" grep -q '^cairn: volume env-prod: synced' "$W/out-$j.txt"
check "slurm: \$args[NAME.a.b] resolves a JSON field" grep -q '^cairn: volume json-r42: synced' "$W/out-$j.txt"
check "slurm: \$user and \$workspace (the account) resolve" grep -q "^cairn: volume $U-proj1: synced" "$W/out-$j.txt"
check "slurm: the workspace is the job's account" sh -c "cairn list --workspace proj1 | grep -q '^data-first '"
check "slurm: cairn history shows what the job did with the volume" \
	sh -c "cairn history data-first --workspace proj1 | grep -q ' job $j ($U): waited .*synced version 1: '"
check "slurm: the volume's last use is this job, by its user" \
	sh -c "cairn show data-first --workspace proj1 | grep -q '^Last used: .* by $U (job $j)\$'"
j=$(submit_wait "$U" args.sh -o "$W/out-%j.txt")
check "slurm: a missing script argument fails the job" [ "$(job_state "$j")" = FAILED ]
check "slurm: the message names the placeholder" grep -q 'args\[1\]' "$W/out-$j.txt"
assert_node_idle "slurm: the node stays idle after a placeholder error"

# 8. The Epilog killed in the middle of a sync: the volume stays the old version,
#    and the next job's sync works.
script crash.sh <<'S'
#!/bin/bash
# volume: crashy .c
for i in 1 2 3 4 5; do echo "$1-$i" > .c/f$i; done
S
j=$(submit_wait "$U" crash.sh -o "$W/out-%j.txt" -- old)
hook=$(grep -l cairn-epilog "$STATE"/hooks/* | head -1)
ok=1
for n in 0 1 2; do
	sed -i "/^exec /i export CAIRN_FAULT_PUT_ABORT_AFTER=$n" "$hook"
	j=$(submit_wait "$U" crash.sh -o "$W/out-%j.txt" -- new$n)
	sed -i '/CAIRN_FAULT_PUT_ABORT_AFTER/d' "$hook"
	got=$(for i in 1 2 3 4 5; do cairn get crashy f$i - --workspace default; done | tr '\n' ' ')
	[ "$got" = "old-1 old-2 old-3 old-4 old-5 " ] || { ok=0; echo "after a crash at put $n: $got" >&2; }
	resume_node >/dev/null 2>&1
done
check "slurm: an Epilog killed mid-sync leaves exactly the old version" [ $ok = 1 ]
j=$(submit_wait "$U" crash.sh -o "$W/out-%j.txt" -- after)
got=$(for i in 1 2 3 4 5; do cairn get crashy f$i - --workspace default; done | tr '\n' ' ')
check "slurm: the next job after the crashes syncs a whole new version" [ "$got" = "after-1 after-2 after-3 after-4 after-5 " ]
assert_node_idle "slurm: the node is idle again after the crash tests"

# 9. Leases: a second job on a held volume waits for the first, says so, and
#    starts from what the first committed; a wait past LeaseWait fails the job.
script hold.sh <<'S'
#!/bin/bash
# volume: shared-vol .s
echo "$1" >> .s/log
sleep "${2:-0}"
S
a=$(submit "$U" hold.sh -o "$W/out-%j.txt" -- first 8)
for _ in $(seq 1 50); do [ "$(job_state "$a")" = RUNNING ] && break; sleep 0.2; done
b=$(submit_wait "$U" hold.sh -o "$W/out-%j.txt" -- second 0)
wait_job "$a"
check "slurm: a job waiting for a held volume says which job holds it" grep -q "volume shared-vol is in use by job $a" "$W/out-$b.txt"
check "slurm: the waiting job runs after the holder and sees its commit" [ "$(cairn get shared-vol log - --workspace default | tr '\n' ' ')" = "first second " ]
a=$(submit "$U" hold.sh -o "$W/out-%j.txt" -- third 15)
for _ in $(seq 1 50); do [ "$(job_state "$a")" = RUNNING ] && break; sleep 0.2; done
sed -i 's/^LeaseWait = .*/LeaseWait = 2/' "$CAIRN_CONF"
b=$(submit_wait "$U" hold.sh -o "$W/out-%j.txt" -- fourth 0)
sed -i 's/^LeaseWait = .*/LeaseWait = 60/' "$CAIRN_CONF"
check "slurm: a wait past LeaseWait fails the job" [ "$(job_state "$b")" = FAILED ]
check "slurm: the timeout message names the holder and LeaseWait" grep -q "held by job $a on .*LeaseWait" "$W/out-$b.txt"
wait_job "$a"
assert_node_idle "slurm: the node stays idle after a lease timeout"
check "slurm: cairn show reports no holder after the jobs" sh -c "! cairn show shared-vol --workspace default | grep -q '^Lease: *held'"

# 9b. Contention through real jobs: several jobs append to one volume at once;
#     each waits its turn and every completed job's line is in the final version.
script append.sh <<'S'
#!/bin/bash
# volume: contended .c
echo "$1" >> .c/log
S
ids=()
for i in 1 2 3 4 5 6; do ids+=("$(submit "$U" append.sh -o "$W/out-%j.txt" -- "line-$i")"); done
for id in "${ids[@]}"; do wait_job "$id"; done
final=$(cairn get contended log - --workspace default | sort | tr '\n' ' ')
check "slurm: 6 contending jobs all complete" bash -c "for id in ${ids[*]}; do scontrol show job -o \$id | grep -q JobState=COMPLETED || exit 1; done"
check "slurm: every contending job's append is in the final version" [ "$final" = "line-1 line-2 line-3 line-4 line-5 line-6 " ]
check "slurm: the contended volume has one version per job" sh -c "cairn show contended --workspace default --json | grep -q '\"version\": 6'"

# 9c. Permissions through real jobs (the matrix is in test_permissions.sh): the
#     Prolog refuses a user the volume is not shared with, and mounts a
#     read-only share read-only; the node stays up.
U2=$CAIRN_TEST_USER2
H2=$(getent passwd "$U2" | cut -d: -f6)
script guarded.sh <<'S'
#!/bin/bash
# volume: guarded .g
cat .g/a 2>/dev/null
echo x >.g/b 2>/dev/null && echo wrote || echo refused
S
j=$(submit "$U" guarded.sh -o "$W/out-%j.txt")
wait_job "$j"
cairn share guarded --user "$U" --rw --workspace default >/dev/null
install -m 0644 "$W/guarded.sh" "$H2/guarded-$$.sh"
j=$(SUBMIT_DIR=$H2 submit_wait "$U2" "guarded-$$.sh" -o "$H2/out-%j.txt")
check "slurm: a job of a user the volume is not shared with fails" [ "$(job_state "$j")" = FAILED ]
check "slurm: ... with one line naming the volume, the user and the owner" \
	grep -q "^cairn: volume guarded: user $U2 may not use it: it belongs to $U and is shared only with user $U (rw)" "$H2/out-$j.txt"
assert_node_idle "slurm: the node is idle after a refused job"
cairn share guarded --user "$U2" --ro --workspace default >/dev/null
j=$(SUBMIT_DIR=$H2 submit_wait "$U2" "guarded-$$.sh" -o "$H2/out-%j.txt")
check "slurm: a read-only share mounts the volume read-only in a job" \
	bash -c "[ \"\$(scontrol show job -o $j | grep -o 'JobState=[A-Z]*')\" = JobState=COMPLETED ] && grep -qx refused '$H2/out-$j.txt'"
check "slurm: ... and the job's output says so" \
	grep -qx "cairn: volume guarded: mounted read-only: $U2 has a read-only share of it (nothing is synced back)" "$H2/out-$j.txt"
rm -f "$H2/guarded-$$.sh" "$H2"/out-*.txt

# 10. A job without volumes is untouched.
script plain.sh <<'S'
#!/bin/bash
echo plain
S
j=$(submit_wait "$U" plain.sh -o "$W/out-%j.txt")
check "slurm: a job without volumes runs as usual" grep -qx plain "$W/out-$j.txt"
assert_node_idle "slurm: the node is idle at the end"
rm -rf "$W"
finish
