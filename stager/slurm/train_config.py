"""The trainer config a SLURM job trains with: the instance's config, read in place on the shared filesystem.

It is `stager.run.job.instance_train_config` with each dataset "mounted" where
it already is (its absolute path: compute nodes see the controller's shared
filesystem), the outputs in the run folder's ``out/``, and no checkpoint push
(the checkpoints are written to the shared filesystem and recorded from there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stager.pipeline import PipelineSpec
from stager.run.job import PUSH_CLASS, InstanceJob, instance_train_config

__all__ = ["slurm_train_config"]


def slurm_train_config(spec: PipelineSpec, *, run_id: str, outputs: Path) -> dict[str, Any]:
    in_place = {d.name: str(d.path) for d in spec.data}
    job = InstanceJob(run_id=run_id, endpoint_url="", signing_region="", outputs_bucket="", datasets={},
                      volumes=in_place)
    config = instance_train_config(spec.train.config, job, local_paths={d.name: d.path for d in spec.data},
                                   bases=(Path.cwd(), spec.path.parent))
    trainer = config["trainer"]
    trainer["default_root_dir"] = str(outputs)
    trainer["callbacks"] = [c for c in trainer["callbacks"]
                            if not (isinstance(c, dict) and c.get("class_path") == PUSH_CLASS)]
    return config
