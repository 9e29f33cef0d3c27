"""Pipelines (``pipelines/*.yaml``): loaded safely, ``${VAR}`` resolved, checked field by field, typed.

A pipeline is one experiment::

    name: mnist-mlp
    target: local                            # or linode, or slurm with a slurm: section (spec_slurm)
    image: images/cpu.yaml                   # the gold-image recipe
    data:
      mnist: {path: data/mnist, validate: {labels: {min: 0, max: 9}, leakage: error}}
    storage: {bucket: stager-data, prefix: datasets, via: object-storage, region: us-east}
    compute: {type: g1-gpu-rtx6000-1, region: us-east, nodes: 1}
    train:                                   # the trainer's own config, as `stager train fit --config` takes it
      model: {class_path: stager.examples.mnist.MLP, init_args: {hidden: 128}}
      trainer: {max_epochs: 3}
    outputs: {checkpoints: true, logs: true, metrics: true}
    budget: {max_usd: 5, max_hours: 2, expected_hours: 0.5}
    rehearse: false                          # or true, or {type: g6-standard-2, max_hours: 1}

`load_pipeline` returns a frozen `PipelineSpec`; every mistake is a
`ConfigError` naming the file, the line, the dotted field and a hint (exit code
2). The field-by-field rules are in `stager.pipeline.spec_check`; docs/pipelines.md
describes every field. A ``sprint:`` section (many experiments under one budget)
is kept as written and checked by `stager.sprint.spec`, the layer that runs
sprints. Not supported: several pipelines in one file, includes, datasets read
from a bucket prefix, per-node compute settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stager.data.datasets import DatasetSettings
from stager.data.sources import Source
from stager.data.validate_config import ValidationConfig
from stager.errors import ConfigError
from stager.image.recipe import Recipe
from stager.pipeline.envvars import redact
from stager.pipeline.spec_catalogue import Catalogue
from stager.pipeline.spec_slurm import SlurmSpec
from stager.yamlio import YamlDoc

__all__ = ["BudgetSpec", "ComputeSpec", "DataSpec", "ImageSpec", "OutputsSpec", "PipelineSpec", "RehearseSpec",
           "StorageSpec", "TrainSpec", "load_pipeline"]

TARGETS = ("local", "linode", "slurm")
VIA = ("object-storage", "volume")


@dataclass(frozen=True)
class ImageSpec:
    path: Path  # the recipe file, absolute
    recipe: Recipe  # the recipe, loaded and checked (its hash is computed when the run needs it)


@dataclass(frozen=True)
class DataSpec:
    name: str  # the key under `data`: names the manifest, the bucket prefix and drift history
    path: Path  # the local dataset folder, absolute; it may not exist yet (sources or a data module fill it)
    validation: ValidationConfig  # which checks run before anything is paid for
    sources: tuple[Source, ...] = ()  # files downloaded into the folder first, each pinned by sha256

    def settings(self) -> DatasetSettings:
        """The same dataset as `stager.data` takes it (validation, manifests, sync)."""
        return DatasetSettings(name=self.name, path=self.path, validation=self.validation, sources=self.sources)


@dataclass(frozen=True)
class StorageSpec:
    via: str  # how datasets reach the instances: "object-storage" (a bucket prefix) or "volume" (Block Storage)
    bucket: str  # the Object Storage bucket the datasets go to (via object-storage); instances may only read it
    prefix: str  # datasets go under <prefix>/<dataset name>/ in the bucket ("" for the bucket's root)
    region: str  # the bucket's region (its Object Storage cluster)
    volume_size_gb: int | None = None  # via volume: the volume's size in GB (Linode's default 20)
    volume_label: str | None = None  # via volume: the volume's label; None lets the run name it
    # Every run's outputs (checkpoints as they are saved, logs) go to runs/<run id>/ in this bucket, which
    # instances may write. A bucket of its own because Linode scopes a key's access per bucket, not per
    # prefix: the data bucket stays read-only to the instances. Default: "<bucket>-runs".
    outputs_bucket: str = ""

    def __post_init__(self) -> None:
        if not self.outputs_bucket:
            object.__setattr__(self, "outputs_bucket", f"{self.bucket}-runs")

    def dataset_url(self, dataset: str) -> str:
        """Where dataset ``dataset`` lives in the bucket: ``s3://bucket/prefix/dataset``."""
        return "s3://" + "/".join(part for part in (self.bucket, self.prefix, dataset) if part)


@dataclass(frozen=True)
class ComputeSpec:
    type: str  # Linode plan id of every training instance, e.g. g1-gpu-rtx6000-1
    region: str  # where the instances (and a volume) are created
    nodes: int = 1  # instances; more than one trains with torchrun over the private network
    gpus_per_node: int = 0  # from the catalogue the pipeline was checked against; 0 for a CPU plan


@dataclass(frozen=True)
class TrainSpec:
    # The trainer config as written under `train:`, ${VAR} resolved: what the instance
    # runs with `stager train fit --config`. It may hold secrets: never log it as is.
    config: dict = field(repr=False)
    # The config as the trainer resolved it (init defaults filled in, callbacks as class
    # sections); None when the pipeline was loaded with check_train=False.
    resolved: dict | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OutputsSpec:
    checkpoints: bool = True  # pull the run's checkpoints into runs/<id>/
    logs: bool = True  # pull the trainer's logs
    metrics: bool = True  # pull the logged metrics


@dataclass(frozen=True)
class BudgetSpec:
    max_usd: float  # the most the run may cost; a larger estimate refuses to start (unless --yes)
    max_hours: float  # wall-clock hours after which training is stopped and everything torn down
    expected_hours: float | None = None  # how long training should take; the estimate's basis when given

    @property
    def estimate_hours(self) -> float:
        """The hours a cost estimate assumes: ``expected_hours``, else ``max_hours``."""
        return self.expected_hours if self.expected_hours is not None else self.max_hours

    @property
    def estimate_basis(self) -> str:
        """Which field `estimate_hours` came from."""
        return "budget.expected_hours" if self.expected_hours is not None else "budget.max_hours"


@dataclass(frozen=True)
class RehearseSpec:
    enabled: bool = False  # run the pipeline end to end on a cheap instance before renting the GPUs
    type: str = "g6-standard-2"  # the rehearsal instance's plan (a CPU plan; in compute.region)
    max_hours: float = 1.0  # how long the rehearsal may take; billed as whole hours


@dataclass(frozen=True)
class PipelineSpec:
    name: str  # 1-40 of a-z, 0-9 and -: names runs and their ledger entries
    target: str  # "local" (the emulator on this machine) or "linode"
    path: Path  # the pipeline file, absolute
    image: ImageSpec | None  # None on target slurm (see stager.pipeline.spec_slurm), as are storage,
    # compute and budget: the cluster provides the machines, the shared filesystem the data
    data: tuple[DataSpec, ...]  # in the order written; may be empty
    storage: StorageSpec | None
    compute: ComputeSpec | None
    train: TrainSpec
    budget: BudgetSpec | None
    outputs: OutputsSpec = field(default_factory=OutputsSpec)
    rehearse: RehearseSpec = field(default_factory=RehearseSpec)
    description: str = ""  # free text, kept with the run
    sprint: Any = field(default=None, repr=False)  # the `sprint:` section as written; None for a single run
    slurm: SlurmSpec | None = None  # the `slurm:` section: where a target slurm run is submitted
    # Dotted fields whose values came from secret-looking variables (see stager.pipeline.envvars).
    secret_fields: frozenset[str] = field(default=frozenset(), repr=False)
    # The secret values themselves, so a copy of one anywhere in a dump is found too.
    secret_values: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    doc: YamlDoc | None = field(default=None, repr=False, compare=False)  # for locating later errors

    def __repr__(self) -> str:  # short, and free of anything a variable may have put in
        return f"PipelineSpec(name={self.name!r}, target={self.target!r}, path={str(self.path)!r})"

    def dataset(self, name: str) -> DataSpec:
        """The dataset called ``name``.

        Raises:
            KeyError: the pipeline has no such dataset.
        """
        for spec in self.data:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def error(self, field_path: str, problem: str, hint: str | None = None) -> ConfigError:
        """A ConfigError located at ``field_path`` of this pipeline's file (for problems found later,
        e.g. a plan the live catalogue does not sell)."""
        if self.doc is None:
            return ConfigError(problem, file=str(self.path), field=field_path, hint=hint)
        return self.doc.error(field_path, problem, hint)

    def to_redacted_dict(self) -> dict[str, Any]:
        """The resolved spec, shaped like the file with defaults filled in, secrets as ``"<redacted>"``.

        What a run folder and the ledger keep: paths are absolute, ``${VAR}`` resolved,
        and any value from a secret-looking variable or under a secret-looking key hidden.
        """
        return redact(self._plain(), secret_fields=self.secret_fields, secret_values=self.secret_values)

    def to_redacted_json(self) -> str:
        return json.dumps(self.to_redacted_dict(), indent=2, sort_keys=False) + "\n"

    def to_redacted_yaml(self) -> str:
        return yaml.safe_dump(self.to_redacted_dict(), sort_keys=False, default_flow_style=False)

    def _plain(self) -> dict[str, Any]:
        storage: dict[str, Any] | None = None if self.storage is None else {
            "via": self.storage.via, "bucket": self.storage.bucket, "prefix": self.storage.prefix,
            "region": self.storage.region, "outputs_bucket": self.storage.outputs_bucket}
        if self.storage is not None and self.storage.via == "volume":
            storage["volume"] = {"size_gb": self.storage.volume_size_gb, "label": self.storage.volume_label}
        return {
            "name": self.name,
            "description": self.description,
            "target": self.target,
            "pipeline": str(self.path),
            "image": str(self.image.path) if self.image else None,
            "data": {d.name: {"path": str(d.path), "validate": _validation_dict(d.validation),
                              "sources": [s.to_json() for s in d.sources]} for d in self.data},
            "storage": storage,
            "compute": {"type": self.compute.type, "region": self.compute.region, "nodes": self.compute.nodes}
            if self.compute else None,
            "train": _copy(self.train.config),
            "outputs": {"checkpoints": self.outputs.checkpoints, "logs": self.outputs.logs,
                        "metrics": self.outputs.metrics},
            "budget": {"max_usd": self.budget.max_usd, "max_hours": self.budget.max_hours,
                       "expected_hours": self.budget.expected_hours} if self.budget else None,
            "rehearse": {"enabled": self.rehearse.enabled, "type": self.rehearse.type,
                         "max_hours": self.rehearse.max_hours},
            **({"sprint": _copy(self.sprint)} if self.sprint is not None else {}),
            **({"slurm": self.slurm.to_dict()} if self.slurm is not None else {}),
        }


def _validation_dict(config: ValidationConfig) -> dict[str, Any]:
    """A ValidationConfig in the shape of `validate:` (every check with its level and set options)."""
    out: dict[str, Any] = {}
    for name, setting in config.checks.items():
        out[name] = {"level": setting.level, **{k: v for k, v in setting.options.items() if v is not None}}
    out["label_column"] = config.label_column
    out["sample_limit"] = config.sample_limit
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def load_pipeline(path: str | Path, *, environ: Mapping[str, str] | None = None, target: str | None = None,
                  catalogue: Catalogue | None = None, check_train: bool = True) -> PipelineSpec:
    """Read a pipeline file, resolve its ``${VAR}`` references and check every field.

    ``environ`` defaults to ``os.environ``; ``target`` (from ``--target``) replaces
    the file's; ``catalogue`` defaults to `Catalogue.offline`. With ``check_train``
    the `train` section's class paths are imported and their init arguments
    checked against the signatures, as `stager train fit` would, without building
    anything (this imports torch and the user's modules).

    Raises:
        ConfigError: the file is missing or not YAML; a key is unknown; a value has
            the wrong type or is out of range; a variable is unset without a
            default; the image recipe is missing or wrong (located in the recipe);
            a plan, region or GPU/region pairing the catalogue does not have; a
            trainer config the trainer would refuse. Located at the file, line and
            dotted field, with any secret value in the message replaced.
    """
    from stager.pipeline.spec_check import check_pipeline

    return check_pipeline(Path(path), environ=os.environ if environ is None else environ, target=target,
                          catalogue=catalogue or Catalogue.offline(), check_train=check_train)
