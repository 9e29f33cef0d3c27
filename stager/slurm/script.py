"""The sbatch script of a run, rendered from ``templates/sbatch.sh`` with every value shell-quoted.

The ``#SBATCH`` lines say what the ``slurm:`` section says (job name
``stager-<run id>``, partition, account, time, nodes, ``--gpus-per-node`` when
above 0, the output file in the run folder, the working folder); the body runs
one ``torchrun`` per node under ``srun``, which starts the trainer with the
run's ``train.yaml``. One node rendezvouses ``--standalone``; several use c10d
on the first node of the allocation. Values come from the pipeline file, so
each one is passed through `shlex.quote`: a path holding spaces, quotes or
``$(...)`` stays one word and is never run.
"""

from __future__ import annotations

import shlex
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stager.pipeline.spec_slurm import SlurmSpec

__all__ = ["RDZV_PORT", "ScriptFacts", "job_name", "render_script"]

RDZV_PORT = 29500  # torchrun's usual c10d port on the first node
TEMPLATE = "sbatch.sh"


class _Template(string.Template):
    delimiter = "@"  # the script is shell: `$` is the shell's


@dataclass(frozen=True)
class ScriptFacts:
    """What a script needs beyond the ``slurm:`` section; every path absolute."""

    run_id: str
    pipeline: str  # the pipeline's name
    config: Path  # the trainer config, in the run folder
    output: Path  # the job's output file (%j is the job id)
    chdir: Path  # the job's working folder: where stager was started, so relative paths mean the same
    python: str  # the interpreter on the compute nodes


def job_name(run_id: str) -> str:
    return f"stager-{run_id}"


def render_script(slurm: SlurmSpec, facts: ScriptFacts) -> str:
    q = shlex.quote
    many = slurm.nodes > 1
    values = {
        "run_id": q(facts.run_id),
        "pipeline": q(facts.pipeline),
        "job_name": q(job_name(facts.run_id)),
        "partition": q(slurm.partition),
        "account": f"#SBATCH --account={q(slurm.account)}\n" if slurm.account else "",
        "time": q(slurm.time),
        "nodes": str(slurm.nodes),
        "gpus": f"#SBATCH --gpus-per-node={slurm.gpus_per_node}\n" if slurm.gpus_per_node > 0 else "",
        "output": q(str(facts.output)),
        "chdir": q(str(facts.chdir)),
        "extra": "\n".join(f"#SBATCH {option}" + ("" if value is None else f"={q(value)}")
                           for option, value in slurm.extra_sbatch),
        "rendezvous_setup": ('first_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' if many
                             else "# one node: torchrun rendezvouses on it (--standalone)"),
        "launch": (f'--nnodes "$SLURM_NNODES" --rdzv-backend c10d --rdzv-endpoint "$first_node:{RDZV_PORT}" '
                   f"--rdzv-id {q(facts.run_id)}" if many else "--standalone --nnodes 1"),
        "nproc": str(max(slurm.gpus_per_node, 1)),
        "python": q(facts.python),
        "config": q(str(facts.config)),
    }
    text = resources.files("stager.slurm").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    return _Template(text).substitute(values)
