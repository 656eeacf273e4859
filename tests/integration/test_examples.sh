#!/usr/bin/env bash
# The agent job templates of examples/ through real Slurm jobs: Claude Code and
# Codex as sandboxed jobs whose sessions live in a volume (run with stand-ins
# for the agents, tests/integration/agents/, since there is no network here:
# the same flags, the same session files, the same resume logic), and the
# two-job pipeline whose second job reads the first one's artifacts.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
STATE=$(mktemp -d /tmp/cairn-examples.XXXXXX)
export CAIRN_TEST_STATE=$STATE
cleanup() {
	"$REPO/tests/cluster" down --state "$STATE" >/dev/null 2>&1
	[ -n "${W:-}" ] && rm -rf "$W"
	rm -rf "$STATE"
}
trap cleanup EXIT
if ! env_lines=$("$REPO/tests/cluster" up --state "$STATE" --clean); then
	fail "examples: the test cluster comes up" "tests/cluster up failed"
	exit 1
fi
eval "$env_lines"
pass "examples: the test cluster comes up"
U=$CAIRN_TEST_USER
W=$(getent passwd "$U" | cut -d: -f6)/cairn-examples.$$
install -d -o "$U" -g "$(id -g "$U")" "$W" "$W/bin" "$W/.secrets"
install -m 0755 -o "$U" "$REPO"/examples/*.sbatch "$REPO/examples/pipeline.sh" "$W/"
install -m 0755 -o "$U" "$HERE/agents/claude" "$HERE/agents/codex" "$W/bin/"
KEY_A="sk-ant-test-$$-not-a-real-key"
KEY_O="sk-openai-test-$$-not-a-real-key"
printf '%s\n' "$KEY_A" >"$W/.secrets/anthropic-api-key"
printf '%s\n' "$KEY_O" >"$W/.secrets/openai-api-key"
chown -R "$U" "$W/.secrets"
chmod 0600 "$W/.secrets"/*
echo "add a test for the parser" >"$W/TASK.md"
# Inputs: instructions and a skill, passed as the job's third argument.
mkdir -p "$W/inputs/skills/test-writer"
echo "Always run the tests before you stop." >"$W/inputs/CLAUDE.md"
echo "Keep changes small." >"$W/inputs/AGENTS.md"
echo "name: test-writer" >"$W/inputs/skills/test-writer/SKILL.md"
chown -R "$U" "$W/TASK.md" "$W/inputs"
export SUBMIT_DIR=$W
field() { sed -n "s/^$2//p" "$W/out-$1.txt" | head -n 1; } # JOB PREFIX

# Claude Code: a new session, then the next job resumes it and sees the first turn.
j1=$(submit_wait "$U" claude-code.sbatch -o "$W/out-%j.txt" --export=ALL,CAIRN_AGENT_CMD="$W/bin/claude" -- proj1 TASK.md inputs)
check "examples: claude-code: the first job completes" [ "$(job_state "$j1")" = COMPLETED ]
grep -q 'new session' "$W/out-$j1.txt" || sed 's/^/  | /' "$W/out-$j1.txt" >&2
check "examples: claude-code: the first job starts a new session" grep -q 'project proj1: new session' "$W/out-$j1.txt"
check "examples: claude-code: the instructions and skills passed as inputs reach the agent" \
	grep -q 'instructions: Always run the tests before you stop.; skills: 1' "$W/out-$j1.txt"
sid=$(cairn get "$U-claude-proj1" session-id - --workspace default 2>/dev/null)
check "examples: claude-code: the session id is kept in the volume" bash -c "[[ '$sid' =~ ^[0-9a-f-]{36}\$ ]]"
echo "now fix the bug it found" >"$W/TASK.md"
j2=$(submit_wait "$U" claude-code.sbatch -o "$W/out-%j.txt" --export=ALL,CAIRN_AGENT_CMD="$W/bin/claude" -- proj1)
check "examples: claude-code: the next job resumes that session" \
	grep -q "project proj1: resuming session $sid" "$W/out-$j2.txt"
check "examples: claude-code: ... and the agent sees the earlier turn" \
	grep -q 'turn 2; earlier prompts: add a test for the parser' "$W/out-$j2.txt"
j3=$(submit_wait "$U" claude-code.sbatch -o "$W/out-%j.txt" --export=ALL,CAIRN_AGENT_CMD="$W/bin/claude" -- proj2)
check "examples: claude-code: another project has a session of its own" \
	bash -c "grep -q 'project proj2: new session' '$W/out-$j3.txt' && grep -q 'turn 1;' '$W/out-$j3.txt'"
check "examples: claude-code: each job commits the session to the volume (version 2 after two)" \
	sh -c "cairn show '$U-claude-proj1' --workspace default | grep -q 'Version: *2'"

# Codex: the same with `codex exec` and `codex exec resume --last`.
j4=$(submit_wait "$U" codex.sbatch -o "$W/out-%j.txt" --export=ALL,CAIRN_AGENT_CMD="$W/bin/codex" -- proj1 TASK.md inputs)
check "examples: codex: the first job starts a new session, with the instructions passed as inputs" \
	bash -c "[ $(job_state "$j4") = COMPLETED ] && grep -q 'project proj1: new session' '$W/out-$j4.txt' && grep -q 'instructions: Keep changes small.' '$W/out-$j4.txt'"
csid=$(cairn get "$U-codex-proj1" session-id - --workspace default 2>/dev/null)
check "examples: codex: the session id is kept in the volume" bash -c "[[ '$csid' =~ ^[0-9a-f-]{36}\$ ]]"
j5=$(submit_wait "$U" codex.sbatch -o "$W/out-%j.txt" --export=ALL,CAIRN_AGENT_CMD="$W/bin/codex" -- proj1)
check "examples: codex: the next job resumes that session, with the earlier turn" \
	bash -c "grep -q 'resuming session $csid' '$W/out-$j5.txt' && grep -q 'turn 2; earlier prompts: now fix the bug it found' '$W/out-$j5.txt'"

# The API keys come from the files, and appear in no job output, record or volume.
leak=$(grep -rl -e "$KEY_A" -e "$KEY_O" "$W"/out-*.txt "$STATE/cache" "$STATE/store" 2>/dev/null)
check "examples: the API keys appear in no job output, cache or store" [ -z "$leak" ]
check "examples: the API keys are not in Slurm's view of the jobs" \
	bash -c "! scontrol show job -d $j1 $j2 $j4 2>/dev/null | grep -q -e '$KEY_A' -e '$KEY_O'"
rm "$W/.secrets/anthropic-api-key"
j6=$(submit_wait "$U" claude-code.sbatch -o "$W/out-%j.txt" --export=ALL,CAIRN_AGENT_CMD="$W/bin/claude" -- proj1)
check "examples: claude-code: without a key file the job fails with one line saying where to put it" \
	bash -c "[ $(job_state "$j6") = FAILED ] && grep -q 'no API key in .*anthropic-api-key; put it there' '$W/out-$j6.txt'"

# The pipeline: B waits for A (afterok) and reads A's artifact from the volume.
out=$(cd "$W" && runuser -u "$U" -- ./pipeline.sh)
a=$(sed -n 's/^submitted: produce \([0-9]*\), then consume \([0-9]*\)$/\1/p' <<<"$out")
b=$(sed -n 's/^submitted: produce \([0-9]*\), then consume \([0-9]*\)$/\2/p' <<<"$out")
check "examples: pipeline: both jobs are submitted" bash -c "[ -n '$a' ] && [ -n '$b' ]"
wait_job "$a"
wait_job "$b"
check "examples: pipeline: the producer completes" [ "$(job_state "$a")" = COMPLETED ]
check "examples: pipeline: the consumer ran after it and read its artifact" \
	grep -q "consume: read runs/result-$a.txt: made by job $a at .* sum=5050" "$W/slurm-$b.out"
assert_node_idle "examples: the node is idle at the end"
finish
