"""``TensorBoardLogger``: real TensorBoard event files via ``torch.utils.tensorboard``.

Layout (as Lightning's): ``save_dir/name/version_N/events.out.tfevents.*`` and
``hparams.yaml``.  Needs the ``tensorboard`` extra; this module imports without
it and the constructor raises a ``UsageError`` naming the extra.

Hyper-parameters go to ``hparams.yaml``, to a text summary (visible without any
metric), and to TensorBoard's HPARAMS tab when there is a metric to pair them with
(``default_hp_metric=True`` or ``log_hyperparams(params, metrics)``).  Not
supported: Lightning's ``sub_dir`` and ``log_graph`` of models whose forward
takes keyword-only inputs.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Mapping

from stager.errors import UsageError
from stager.train.loggers.versioning import VersionedLogger, plain, save_hparams

PREFIX_SEPARATOR = "-"


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise UsageError(
            f"TensorBoardLogger needs the tensorboard package ({exc}); install it with: pip install 'stager[tensorboard]'"
        ) from None
    return SummaryWriter


class TensorBoardLogger(VersionedLogger):
    def __init__(
        self,
        save_dir: str | os.PathLike,
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        log_graph: bool = False,
        default_hp_metric: bool = False,
        prefix: str = "",
        **writer_kwargs: Any,
    ) -> None:
        """``writer_kwargs`` go to ``SummaryWriter`` (``max_queue``, ``flush_secs``, ...)."""
        self._writer_class = _summary_writer_class()
        super().__init__(save_dir, name, version)
        self._log_graph = log_graph
        self._default_hp_metric = default_hp_metric
        self._prefix = prefix
        self._writer_kwargs = writer_kwargs
        self._experiment = None
        self._hparams: dict[str, Any] = {}

    @property
    def experiment(self):
        """The ``SummaryWriter``, opened on first use (and again after ``finalize``)."""
        if self._experiment is None:
            self._experiment = self._writer_class(log_dir=self.log_dir, **self._writer_kwargs)
        return self._experiment

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for key, value in metrics.items():
            key = f"{self._prefix}{PREFIX_SEPARATOR}{key}" if self._prefix else key
            if isinstance(value, Mapping):
                self.experiment.add_scalars(key, {k: float(v) for k, v in value.items()}, step)
            else:
                self.experiment.add_scalar(key, float(value), step)

    def log_hyperparams(self, params: Mapping[str, Any], metrics: Mapping[str, float] | float | None = None) -> None:
        self._hparams.update(params)
        save_hparams(self.log_dir, self._hparams)
        flat = _flatten(plain(dict(params)))
        # A text summary shows the values even when there is no metric for the HPARAMS tab.
        table = "\n".join(f"| {k} | {v} |" for k, v in flat.items())
        self.experiment.add_text("hparams", "| name | value |\n|---|---|\n" + table, 0)

        if metrics is None and self._default_hp_metric:
            metrics = {"hp_metric": -1}
        elif metrics is not None and not isinstance(metrics, Mapping):
            metrics = {"hp_metric": metrics}
        if metrics:
            from torch.utils.tensorboard.summary import hparams

            self.log_metrics(metrics, 0)
            # Into this run's own event file; SummaryWriter.add_hparams would open a sub-run.
            writer = self.experiment._get_file_writer()
            for summary in hparams({k: _hparam_value(v) for k, v in flat.items()}, dict(metrics)):
                writer.add_summary(summary)

    def log_graph(self, model, input_array=None) -> None:
        """Trace ``model`` on ``input_array`` (default ``model.example_input_array``)
        into the GRAPHS tab; does nothing unless built with ``log_graph=True``."""
        if not self._log_graph:
            return
        if input_array is None:
            input_array = getattr(model, "example_input_array", None)
        if input_array is None:
            warnings.warn(
                "TensorBoardLogger.log_graph: no input_array given and model.example_input_array is not set; graph not logged",
                stacklevel=2,
            )
            return
        from stager.train.export import jit_ready, to_module_device

        with jit_ready(model):
            self.experiment.add_graph(model, to_module_device(input_array, model))

    def save(self) -> None:
        if self._experiment is not None:
            self._experiment.flush()

    def finalize(self, status: str) -> None:
        if self._experiment is not None:
            self._experiment.flush()
            self._experiment.close()
            self._experiment = None


def _flatten(params: Mapping[str, Any], parent: str = "") -> dict[str, Any]:
    """``{"opt": {"lr": 1}}`` -> ``{"opt/lr": 1}``: the HPARAMS tab has no nesting."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{parent}/{key}" if parent else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def _hparam_value(value: Any) -> Any:
    # The HPARAMS plugin takes only bool, int, float and str.
    return value if isinstance(value, (bool, int, float, str)) else str(value)

