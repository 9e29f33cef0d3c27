"""The ``save_dir/name/version_N`` folder every file logger writes into.

One base class holds the layout so CSV, TensorBoard and JSON-lines runs of the
same experiment number their versions the same way, as Lightning does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from stager.train.loggers.base import Logger

HPARAMS_FILE = "hparams.yaml"


def next_version(root_dir: str | os.PathLike) -> int:
    """One more than the highest ``version_<int>`` folder under ``root_dir``; 0 if none.

    Folders such as ``version_best`` (a string version) are ignored, not counted.
    """
    try:
        entries = os.listdir(root_dir)
    except FileNotFoundError:
        return 0
    numbers = []
    for entry in entries:
        suffix = entry[len("version_") :] if entry.startswith("version_") else ""
        if suffix.isdigit() and os.path.isdir(os.path.join(root_dir, entry)):
            numbers.append(int(suffix))
    return max(numbers) + 1 if numbers else 0


def version_folder(version: int | str) -> str:
    """``version_3`` for an int; a string names the folder as it is."""
    return version if isinstance(version, str) else f"version_{version}"


class VersionedLogger(Logger):
    """A logger whose files live in ``save_dir/name/<version folder>``.

    The version is chosen on first use, not at construction, so that building a
    logger in a config never creates or claims a folder.  Sub-directories below
    the version (Lightning's TensorBoard ``sub_dir``) are not supported.
    """

    def __init__(self, save_dir: str | os.PathLike, name: str | None = "lightning_logs", version: int | str | None = None) -> None:
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int | str:
        if self._version is None:
            self._version = next_version(self.root_dir)
        return self._version

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def root_dir(self) -> str:
        return os.path.join(self._save_dir, self._name)

    @property
    def log_dir(self) -> str:
        return os.path.join(self.root_dir, version_folder(self.version))

    def _make_log_dir(self) -> Path:
        path = Path(self.log_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path


def plain(value: Any) -> Any:
    """``value`` as YAML/JSON-safe data: containers recurse, anything else
    that is not a bool, int, float, str or None becomes its ``str``.

    Numpy and one-element torch scalars become Python numbers (via ``.item()``)
    so ``lr: 0.001`` stays a number in ``hparams.yaml``.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return plain(item())
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)


def save_hparams(log_dir: str | os.PathLike, params: Mapping[str, Any]) -> Path:
    """Write ``params`` to ``log_dir/hparams.yaml`` (safe YAML, plain values only)."""
    path = Path(log_dir) / HPARAMS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Written aside and renamed so a reader never sees half a file.
    tmp.write_text(yaml.safe_dump(plain(dict(params)), sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)
    return path
