"""``DataModule``: the data half of an experiment, with Lightning's hook names."""

from __future__ import annotations

from typing import Any


class DataModule:
    """Owns the datasets and their loaders.

    ``prepare_data`` runs once per machine on local rank zero (download or generate
    files there); ``setup(stage)`` runs in every process with ``stage`` one of
    "fit", "validate", "test", "predict".  Loaders that are not defined are simply
    not used: a datamodule without ``val_dataloader`` trains without validation.
    """

    def __init__(self) -> None:
        self.trainer = None
        self.hparams: dict[str, Any] = {}

    def prepare_data(self) -> None: ...

    def setup(self, stage: str) -> None: ...

    def teardown(self, stage: str) -> None: ...

    def train_dataloader(self):
        raise NotImplementedError

    def val_dataloader(self):
        raise NotImplementedError

    def test_dataloader(self):
        raise NotImplementedError

    def predict_dataloader(self):
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...

    def save_hyperparameters(self, *args: Any, ignore: list[str] | str | None = None) -> None:
        import inspect

        from stager.train.hparams import collect_init_args

        frame = inspect.currentframe().f_back
        self.hparams = collect_init_args(frame, args, ignore)
