"""The logger interface the trainer writes metrics and hyper-parameters through.

Only rank zero's loggers are called.  Metric values arrive as Python floats:
the trainer converts tensors once, when it logs, never per step.
"""

from __future__ import annotations

from typing import Any, Mapping


class Logger:
    @property
    def name(self) -> str:
        return ""

    @property
    def version(self) -> int | str | None:
        return None

    @property
    def root_dir(self) -> str | None:
        """Folder that holds every version of this experiment."""
        return None

    @property
    def log_dir(self) -> str | None:
        """Folder of this version: checkpoints and the resolved config go beside the metrics."""
        return None

    @property
    def save_dir(self) -> str | None:
        return None

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record ``metrics`` (name -> float) at optimizer step ``step``."""

    def log_hyperparams(self, params: Mapping[str, Any]) -> None:
        """Record the module's hyper-parameters (once per fit)."""

    def log_graph(self, model, input_array=None) -> None: ...

    def after_save_checkpoint(self, path: str) -> None:
        """A checkpoint was written at ``path``."""

    def save(self) -> None:
        """Flush buffered records to disk."""

    def finalize(self, status: str) -> None:
        """Flush and close; ``status`` is "success", "failed" or "interrupted"."""
        self.save()
