#!/bin/bash
#SBATCH --job-name=agent-demo
#SBATCH --time=00:05:00
# volume: agent-state .agent
# sandbox
#
# A stand-in for an AI coding agent: it keeps its memory in the volume
# "agent-state", mounted at .agent in the working directory. Each run reads what
# the previous runs left, appends to it, and counts itself. No network needed.
# It runs in Cairn's sandbox, and at the end tries what a fooled agent might:
# each attempt must fail.
set -euo pipefail
runs=$(cat .agent/runs 2>/dev/null || echo 0)
runs=$((runs + 1))
echo "$runs" > .agent/runs
echo "- run $runs on $(hostname) at $(date -u +%FT%TZ), job ${SLURM_JOB_ID:-none}" >> .agent/memory.md
echo "agent: this is run $runs; my memory holds $(wc -l < .agent/memory.md) lines"

# What a fooled agent might try; the sandbox must refuse each.
attempt() { # WHAT COMMAND...: "held" if the command fails
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "sandbox: $what: NOT held"; else echo "sandbox: $what: held"; fi
}
attempt "read a file elsewhere in the user's home" cat "$HOME/cairn-demo-secret.txt"
attempt "open a connection out (1.1.1.1:80)" timeout 3 bash -c 'exec 3<>/dev/tcp/1.1.1.1/80'
attempt "reach the MUNGE socket (to act as the user in Slurm)" test -S /run/munge/munge.socket.2
attempt "see processes outside the job" bash -c '[ "$(ls -d /proc/[0-9]* | wc -l)" -gt 20 ]'
attempt "write elsewhere in the user's home" touch "$HOME/cairn-demo-escaped"
