#!/bin/bash
#SBATCH --job-name=agent-demo
#SBATCH --time=00:05:00
# volume: agent-state .agent
#
# A stand-in for an AI coding agent: it keeps its memory in the volume
# "agent-state", mounted at .agent in the working directory. Each run reads what
# the previous runs left, appends to it, and counts itself. No network needed.
set -euo pipefail
runs=$(cat .agent/runs 2>/dev/null || echo 0)
runs=$((runs + 1))
echo "$runs" > .agent/runs
echo "- run $runs on $(hostname) at $(date -u +%FT%TZ), job ${SLURM_JOB_ID:-none}" >> .agent/memory.md
echo "agent: this is run $runs; my memory holds $(wc -l < .agent/memory.md) lines"
