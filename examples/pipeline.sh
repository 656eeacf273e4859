#!/bin/bash
# Two jobs that share a volume: B runs only after A succeeded and reads A's
# artifacts (Slurm's --dependency=afterok). Run from the directory holding the
# two scripts:  ./pipeline.sh
set -euo pipefail
a=$(sbatch --parsable pipeline-produce.sbatch)
b=$(sbatch --parsable --dependency=afterok:"$a" pipeline-consume.sbatch)
echo "submitted: produce $a, then consume $b"
