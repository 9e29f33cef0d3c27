"""Which dataset a command works on, and with which settings: a folder, its name, its checks, its sources.

Settings come from a pipeline (``data.<name>`` with ``path``, ``validate`` and
``sources``), or from a file of check settings (a top-level ``validate:``
mapping, the same shape as in a pipeline), or are the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stager import yamlio
from stager.data.sources import Source, parse_sources
from stager.data.validate_config import ValidationConfig
from stager.suggest import did_you_mean

__all__ = ["DatasetSettings"]


@dataclass(frozen=True)
class DatasetSettings:
    name: str  # the dataset's name: manifests and drift checks are kept per name
    path: Path  # the dataset folder
    validation: ValidationConfig = field(default_factory=lambda: ValidationConfig.from_mapping(None))
    sources: tuple[Source, ...] = ()  # files to download into the folder first, with pinned sha256

    @classmethod
    def resolve(cls, path: Path, *, config: Path | None = None, dataset: str | None = None,
                name: str | None = None) -> DatasetSettings:
        """Settings for the folder ``path``, read from ``config`` when given.

        Raises:
            ConfigError: the config file is missing or wrong (located), or names no
                dataset that matches.
        """
        path = Path(path)
        if config is None:
            return cls(name=name or _folder_name(path), path=path)
        doc = yamlio.load(config)
        data = doc.data
        if not isinstance(data, dict):
            raise doc.error("", "expected a pipeline or a mapping with `validate:`",
                            hint="e.g. validate: {labels: {min: 0, max: 9}, leakage: error}")
        if "data" in data:
            return cls._from_pipeline(doc, path, dataset, name)
        unknown = [k for k in data if k != "validate"]
        if unknown:
            raise doc.error(str(unknown[0]), f"unknown key `{unknown[0]}`",
                            hint="a check-settings file has one key, validate:, shaped as in a pipeline")
        validation = ValidationConfig.from_mapping(data.get("validate"), doc=doc, where="validate")
        return cls(name=name or _folder_name(path), path=path, validation=validation)

    @classmethod
    def _from_pipeline(cls, doc: yamlio.YamlDoc, path: Path, dataset: str | None, name: str | None):
        entries = doc.data["data"]
        if not isinstance(entries, dict) or not entries:
            raise doc.error("data", "expected a mapping of dataset names to their settings",
                            hint="e.g. data: {mnist: {path: data/mnist}}")
        if dataset is not None:
            if dataset not in entries:
                raise doc.error("data", f"no dataset `{dataset}`",
                                hint=did_you_mean(dataset, entries) or "datasets here: " + ", ".join(entries))
            key = dataset
        else:
            key = _matching_entry(entries, path, Path(doc.path).parent)
            if key is None:
                raise doc.error("data", f"no dataset here has path {path}",
                                hint="pass --dataset NAME; datasets here: " + ", ".join(map(str, entries)))
        entry = entries[key] or {}
        if not isinstance(entry, dict):
            raise doc.error(f"data.{key}", "expected a mapping with path, validate and sources",
                            hint=f"e.g. {key}: {{path: data/{key}}}")
        validation = ValidationConfig.from_mapping(entry.get("validate"), doc=doc, where=f"data.{key}.validate")
        sources = tuple(parse_sources(entry.get("sources") or [], doc=doc, where=f"data.{key}.sources"))
        return cls(name=name or str(key), path=path, validation=validation, sources=sources)


def _matching_entry(entries: dict, path: Path, pipeline_dir: Path) -> str | None:
    target = path.resolve()
    for key, entry in entries.items():
        written = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(written, str) and target in (Path(written).resolve(), (pipeline_dir / written).resolve()):
            return str(key)
    return str(next(iter(entries))) if len(entries) == 1 else None


def _folder_name(path: Path) -> str:
    return path.resolve().name or "dataset"
