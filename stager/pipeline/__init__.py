"""Pipelines: one experiment, from its YAML file to a typed, checked spec.

    from stager.pipeline import load_pipeline

    spec = load_pipeline(Path("pipelines/exp.yaml"), target="local")
    spec.compute.type, spec.budget.max_usd, spec.train.config
    (run_dir / "pipeline.json").write_text(spec.to_redacted_json())   # secrets as "<redacted>"

Modules: ``spec`` (the dataclasses and `load_pipeline`), ``spec_check`` (the
field-by-field checks), ``spec_train`` (the `train:` section, checked by the
trainer's own checker), ``spec_catalogue`` (the plans and regions checked
against), ``envvars`` (``${VAR}`` references and redaction).
"""

from __future__ import annotations

from stager.pipeline.envvars import REDACTED, looks_secret
from stager.pipeline.spec import (
    BudgetSpec,
    ComputeSpec,
    DataSpec,
    ImageSpec,
    OutputsSpec,
    PipelineSpec,
    RehearseSpec,
    StorageSpec,
    TrainSpec,
    load_pipeline,
)
from stager.pipeline.spec_catalogue import Catalogue

__all__ = ["REDACTED", "BudgetSpec", "Catalogue", "ComputeSpec", "DataSpec", "ImageSpec", "OutputsSpec",
           "PipelineSpec", "RehearseSpec", "StorageSpec", "TrainSpec", "load_pipeline", "looks_secret"]
