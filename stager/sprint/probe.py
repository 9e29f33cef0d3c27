"""A short measured probe: a few training steps of a sprint's base config on this machine, timed.

Used when no past run of the pipeline tells how fast it trains. The probe builds
the model and data module exactly as the trainer config says, then trains
``steps`` steps with checkpointing, logging and validation off, in a temporary
folder. Seconds per step are the median after the first two steps (which pay
for lazy initialisation); an epoch is the data module's batches per epoch at
that rate. Validation is not timed: it is usually a small part of an epoch.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from stager.errors import UsageError
from stager.sprint.estimates import Rates

__all__ = ["probe_rates"]

WARM_UP_STEPS = 2  # the first steps pay for lazy initialisation: not counted


def probe_rates(config: Mapping[str, Any], steps: int) -> Rates:
    """Train ``steps`` steps of ``config`` here and time them.

    Raises:
        UsageError: the config cannot be built or trained (the trainer's message), or
            an epoch has fewer batches than the probe needs to measure.
    """
    from stager.train import Callback
    from stager.train.config import build, check
    from stager.train.config_overrides import Sources
    from stager.yamlio import YamlDoc

    ends: list[float] = []

    class _Clock(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            ends.append(time.perf_counter())

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stager-probe-") as folder:
        probe = _probe_config(config, steps, folder)
        built = build(check(Sources([YamlDoc(data=probe, path="<probe>")], [])))
        built.trainer.callbacks.append(_Clock())
        built.trainer.fit(built.model, datamodule=built.datamodule)
        per_epoch_batches = built.trainer.num_training_batches
    if len(ends) < WARM_UP_STEPS + 2:
        raise UsageError(f"the probe trained {len(ends)} step(s); it needs at least {WARM_UP_STEPS + 2} "
                         f"(an epoch of the base config is shorter than that: set sprint.probe: false)")
    gaps = [b - a for a, b in zip(ends[WARM_UP_STEPS:], ends[WARM_UP_STEPS + 1:])]
    per_step = statistics.median(gaps)
    setup = max(0.0, ends[0] - began - per_step)
    batches = per_epoch_batches if isinstance(per_epoch_batches, int) and per_epoch_batches > 0 else len(ends)
    return Rates(seconds_per_epoch=batches * per_step, seconds_per_step=per_step, setup_s=setup, source="probe",
                 detail=f"probe of {len(ends)} steps of the base config on this machine ({batches} steps/epoch)")


def _probe_config(config: Mapping[str, Any], steps: int, folder: str) -> dict:
    """``config`` trimmed to a timing run: ``steps`` steps, nothing saved, nothing validated."""
    probe = copy.deepcopy(dict(config))
    probe.pop("ckpt_path", None)
    trainer = dict(probe.get("trainer") or {})
    trainer.update(max_steps=steps, max_epochs=None, limit_val_batches=0, num_sanity_val_steps=0,
                   enable_checkpointing=False, logger=False, enable_progress_bar=False, callbacks=[],
                   default_root_dir=folder, enable_model_summary=False)
    trainer.pop("max_time", None)
    probe["trainer"] = trainer
    return probe
