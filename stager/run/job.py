"""What a run asks its instance to do: the trainer config it trains with and the command that starts it.

Everything here is a pure function of the pipeline and the run's facts, so the
exact command and config an instance received can be shown by ``--dry-run``
and checked by tests without an instance.

On the instance the run lives in ``runs/<run id>/`` under the home directory:

    runs/<run id>/
      train.yaml           the trainer config below
      job.json             what stager.run.agent does: the datasets to pull, the config to train with
      .stager/             STAGER_HOME: credentials.yaml (the run's own scoped key, mode 0600)
      data/<dataset>/      each dataset, pulled from the data bucket and checked against its manifest
      out/                 the trainer's default_root_dir: checkpoints, logs, metrics
      .stager-jobs/train/  the detached job's pid, exit code and log

The datasets' local paths in the train config (``data_dir: data/mnist``) are
rewritten to where the instance has them, so the config that trains on the
laptop trains on the instance unchanged.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stager.remote.quoting import command, with_env

__all__ = ["JOB_FILE", "JOB_NAME", "OUTPUT_DIR", "InstanceJob", "credentials_yaml", "instance_train_config",
           "job_command", "job_file", "remote_workdir"]

JOB_NAME = "train"  # the detached job's name: one training job per run, so a reconnect finds it
OUTPUT_DIR = "out"  # the trainer's default_root_dir on the instance, relative to the run's folder
CONFIG_FILE = "train.yaml"
JOB_FILE = "job.json"
HOME_DIR = ".stager"  # STAGER_HOME on the instance; holds the scoped key
PUSH_CLASS = "stager.run.push.CheckpointPush"
REPORT_CLASS = "stager.run.report.MetricsReport"


@dataclass(frozen=True)
class InstanceJob:
    """Where the run's outputs go and how the instance reaches Object Storage (nothing secret)."""

    run_id: str
    endpoint_url: str  # the S3 endpoint the instance uses
    signing_region: str  # AWS_REGION for SigV4 on the instance
    outputs_bucket: str  # the bucket the instance may write
    datasets: Mapping[str, str]  # dataset name -> its s3:// URL in the data bucket, pulled by the agent
    resume_from: str | None = None  # a checkpoint already placed in the run's folder, relative to it
    volumes: Mapping[str, str] = field(default_factory=dict)  # dataset name -> where its volume is mounted
    gpu: int | None = None  # the one GPU the job may use (CUDA_VISIBLE_DEVICES) when it shares its instance

    def dataset_paths(self) -> dict[str, str]:
        """Where each dataset is on the instance: ``data/<name>`` when pulled, the mount point on a volume."""
        return {**{name: dataset_dir(name) for name in self.datasets}, **self.volumes}

    @property
    def outputs_prefix(self) -> str:
        return f"runs/{self.run_id}"

    @property
    def checkpoints_prefix(self) -> str:
        return f"{self.outputs_prefix}/checkpoints"


def remote_workdir(run_id: str) -> str:
    """The run's folder on the instance, relative to the home (which SFTP and commands share)."""
    return posixpath.join("runs", run_id)


def dataset_dir(name: str) -> str:
    return posixpath.join("data", name)


def instance_train_config(config: Mapping[str, Any], job: InstanceJob, *, local_paths: Mapping[str, Path],
                          bases: tuple[Path, ...]) -> dict[str, Any]:
    """The trainer config the instance trains with.

    ``local_paths`` maps each dataset name to its folder on this machine; a string
    anywhere in the config naming that folder (absolute, or relative to one of
    ``bases``) becomes where the instance has it (``data/<name>``, or the mount
    point of its volume). The outputs go to ``out/``
    (whatever ``default_root_dir`` said: the run collects them from there), the
    progress bar is off unless asked for (the run shows its own), and two
    callbacks are added: one pushes every checkpoint to the outputs bucket as it
    is saved, one reports metrics as lines the controller reads.
    """
    resolved = {name: path.resolve() for name, path in local_paths.items()}
    on_instance = job.dataset_paths()

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, str) and value:
            for name, folder in resolved.items():
                if name in on_instance and _names_folder(value, folder, bases):
                    return on_instance[name]
        return value

    out = rewrite(copy.deepcopy(dict(config)))
    trainer = dict(out.get("trainer") or {})
    trainer["default_root_dir"] = OUTPUT_DIR
    trainer.setdefault("enable_progress_bar", False)
    callbacks = list(trainer.get("callbacks") or [])
    callbacks.append({"class_path": PUSH_CLASS, "init_args": {
        "endpoint_url": job.endpoint_url, "bucket": job.outputs_bucket, "prefix": job.checkpoints_prefix}})
    callbacks.append({"class_path": REPORT_CLASS})
    trainer["callbacks"] = callbacks
    out["trainer"] = trainer
    if job.resume_from is not None:
        out["ckpt_path"] = job.resume_from
    return out


def _names_folder(value: str, folder: Path, bases: tuple[Path, ...]) -> bool:
    if "\n" in value or len(value) > 4096:
        return False
    given = Path(value).expanduser()
    candidates = [given] if given.is_absolute() else [base / given for base in bases]
    for candidate in candidates:
        try:
            if candidate.resolve() == folder:
                return True
        except (OSError, RuntimeError):
            continue
    return False


def config_text(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(config), sort_keys=False)


def credentials_yaml(access_key: str, secret_key: str) -> str:
    """The instance's ``.stager/credentials.yaml``: the format ``stager data pull`` and the push callback read."""
    return yaml.safe_dump({"object_storage": {"access_key": access_key, "secret_key": secret_key}})


def job_file(job: InstanceJob) -> dict[str, Any]:
    """``job.json`` for ``stager.run.agent``: where the datasets go and the config to train with (nothing secret)."""
    return {"endpoint_url": job.endpoint_url, "config": CONFIG_FILE,
            "datasets": {dataset_dir(name): url for name, url in job.datasets.items()}}


def job_command(job: InstanceJob, python: str) -> str:
    """The detached job: ``stager.run.agent`` pulls each dataset (verified against its manifest), then runs
    ``stager train fit --config train.yaml``.

    No secret is on this line: the key is read from the run's ``.stager`` folder.
    """
    env = {"STAGER_HOME": HOME_DIR, "AWS_REGION": job.signing_region, "PYTHONUNBUFFERED": "1"}
    if job.gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(job.gpu)  # side by side on a multi-GPU plan: one GPU each
    return with_env(env, command(python, "-m", "stager.run.agent", JOB_FILE))
