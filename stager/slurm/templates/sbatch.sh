#!/bin/bash
# stager run @{run_id} of pipeline @{pipeline}, rendered by `stager run` (docs/slurm.md).
# Every value below is shell-quoted; the trainer config is @{config}.
#SBATCH --job-name=@{job_name}
#SBATCH --partition=@{partition}
@{account}#SBATCH --time=@{time}
#SBATCH --nodes=@{nodes}
#SBATCH --ntasks-per-node=1
@{gpus}#SBATCH --output=@{output}
#SBATCH --chdir=@{chdir}
@{extra}
set -euo pipefail
export PYTHONUNBUFFERED=1
@{rendezvous_setup}
# One torchrun per node (srun); torchrun starts the trainer's processes on its node.
srun --ntasks-per-node=1 @{python} -m torch.distributed.run @{launch} \
  --nproc-per-node @{nproc} -m stager train fit --config @{config}
