"""Checking a pipeline file field by field and building its `PipelineSpec`.

Each section is checked where it was written, so every mistake names the file,
the line, the dotted field and a hint. The data section reuses `stager.data`'s
own checks (the same as ``stager data validate --config``), the train section the
trainer's (see `stager.pipeline.spec_train`). Relative paths (`image`,
`data.<name>.path`) are looked up in the pipeline's folder first, then in the
working folder.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Mapping
from pathlib import Path

from stager import yamlio
from stager.data.sources import parse_sources
from stager.data.validate_config import ValidationConfig
from stager.errors import ConfigError, UsageError
from stager.image.recipe import load_recipe
from stager.pipeline.envvars import Substituted, scrub, substitute
from stager.pipeline.spec import (
    TARGETS,
    VIA,
    BudgetSpec,
    ComputeSpec,
    DataSpec,
    ImageSpec,
    OutputsSpec,
    PipelineSpec,
    RehearseSpec,
    StorageSpec,
)
from stager.pipeline.spec_catalogue import Catalogue
from stager.pipeline.spec_slurm import NOT_USED_ON_SLURM, SLURM, check_slurm_section
from stager.pipeline.spec_train import check_train_section
from stager.suggest import did_you_mean
from stager.yamlio import YamlDoc, kind_of

__all__ = ["check_pipeline"]

_TOP_KEYS = ("name", "description", "target", "image", "data", "storage", "compute", "train", "outputs", "budget",
             "rehearse", "sprint", "slurm")
_REQUIRED_HINTS = {
    "name": "add a short name, e.g. name: mnist-mlp",
    "image": "add the gold-image recipe, e.g. image: images/cpu.yaml",
    "compute": "add compute: {type: g1-gpu-rtx6000-1, region: us-east, nodes: 1}",
    "train": "add the trainer's config, e.g. train: {model: {class_path: pkg.module.MyModel}}",
    "budget": "add budget: {max_usd: 5, max_hours: 2}",
}
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_VOLUME_LABEL = re.compile(r"^[A-Za-z](?:(?!--|__)[A-Za-z0-9_-]){0,31}$")  # Linode's rule for volume labels
DEFAULT_BUCKET = "stager-data"  # the local target's bucket when a pipeline names none
DEFAULT_PREFIX = "datasets"
DEFAULT_VOLUME_GB = 20  # Linode's default volume size
VOLUME_GB_RANGE = (10, 10240)  # what Linode accepts


def check_pipeline(path: Path, *, environ: Mapping[str, str], target: str | None, catalogue: Catalogue,
                   check_train: bool) -> PipelineSpec:
    """See `stager.pipeline.spec.load_pipeline`."""
    raw = yamlio.load(path)
    substituted = substitute(raw, environ)
    doc = YamlDoc(data=substituted.data, path=raw.path, lines=raw.lines)
    secrets = substituted.secret_values(environ)
    try:
        return _Checker(doc, substituted, path, catalogue).pipeline(target, secrets, check_train=check_train)
    except ConfigError as exc:
        if not secrets:
            raise
        raise ConfigError(scrub(exc.problem, secrets) or "", file=exc.file, line=exc.line, field=exc.field,
                          hint=scrub(exc.hint, secrets)) from None


class _Checker:
    def __init__(self, doc: YamlDoc, substituted: Substituted, path: Path, catalogue: Catalogue) -> None:
        self.doc = doc
        self.substituted = substituted
        self.path = path
        self.catalogue = catalogue

    def pipeline(self, target_override: str | None, secrets: frozenset[str], *, check_train: bool) -> PipelineSpec:
        data = self.doc.data
        if not isinstance(data, dict):
            raise self.doc.error("", "a pipeline must be a mapping of keys to values",
                                 hint="start from pipelines/exp.yaml")
        self._keys(data, "", _TOP_KEYS)
        target = self._target(data, target_override)
        for required in _REQUIRED_HINTS:
            if data.get(required) is None and not (target == SLURM and required in NOT_USED_ON_SLURM):
                raise self.doc.error("", f"missing `{required}`", hint=_REQUIRED_HINTS[required])
        name = self._string(data, "name")
        if not _NAME.match(name):
            raise self.doc.error("name", f"invalid name {name!r}",
                                 hint="use 1-40 lowercase letters, digits and dashes, e.g. mnist-mlp")
        description = self._string(data, "description", default="", empty_ok=True)
        if target == SLURM:
            compute, sections = None, self._slurm_sections(data)
        else:
            compute = self._compute(data)
            sections = dict(image=self._image(data), data=self._data(data),
                            storage=self._storage(data, target, compute), budget=self._budget(data),
                            outputs=self._outputs(data), rehearse=self._rehearse(data, compute))
        # Last: it imports torch and the user's modules, which the cheap checks above need not wait for.
        train = check_train_section(self.doc, data["train"], check=check_train)
        return PipelineSpec(
            name=name,
            target=target,
            path=self.path.resolve(),
            compute=compute,
            train=train,
            **sections,
            description=description,
            sprint=copy.deepcopy(data.get("sprint")),
            secret_fields=self.substituted.secret_fields(),
            secret_values=secrets,
            doc=self.doc,
        )

    # -- sections ---------------------------------------------------------------

    def _target(self, data: dict, override: str | None) -> str:
        target = self._string(data, "target", default="local")
        if target not in TARGETS:
            raise self.doc.error("target", f"unknown target `{target}`",
                                 hint=did_you_mean(target, TARGETS) or "local (the emulator on this machine) or "
                                                                       "linode (LINODE_TOKEN)")
        if override is not None and override not in TARGETS:
            raise ConfigError(f"unknown target `{override}`", field="target",
                              hint=did_you_mean(override, TARGETS) or "--target takes local, linode or slurm")
        return override or target

    def _image(self, data: dict) -> ImageSpec:
        written = self._string(data, "image")
        recipe_path = self._existing(written, "image", want_file=True, what="recipe")
        return ImageSpec(path=recipe_path, recipe=load_recipe(recipe_path))

    def _data(self, data: dict) -> tuple[DataSpec, ...]:
        entries = data.get("data")
        if entries is None:
            return ()
        if not isinstance(entries, dict):
            raise self.doc.error("data",
                                 f"expected a mapping of dataset names to their settings, got {kind_of(entries)}",
                                 hint="e.g. data: {mnist: {path: data/mnist}}")
        out = []
        for name, entry in entries.items():
            where = f"data.{name}"
            if not isinstance(name, str) or not _DATASET_NAME.match(name):
                raise self.doc.error(where, f"invalid dataset name {name!r}",
                                     hint="1-63 letters, digits, _ and -, starting with a letter or digit")
            if not isinstance(entry, dict):
                raise self.doc.error(where, f"expected a mapping with path, validate and sources, got {kind_of(entry)}",
                                     hint=f"e.g. {name}: {{path: data/{name}}}")
            self._keys(entry, where, ("path", "validate", "sources"))
            if "path" not in entry:
                raise self.doc.error(where, f"missing `{where}.path`", hint=f"the local folder, e.g. path: data/{name}")
            written = self._string(entry, "path", where=f"{where}.path")
            if "://" in written:
                raise self.doc.error(f"{where}.path", f"`{written}` is not a local folder",
                                     hint="a dataset is a local folder; list files to download under sources")
            validation = ValidationConfig.from_mapping(entry.get("validate"), doc=self.doc, where=f"{where}.validate")
            sources = parse_sources(entry.get("sources") or [], doc=self.doc, where=f"{where}.sources")
            out.append(DataSpec(name=name, path=self._existing(written, f"{where}.path", want_file=False,
                                                               what="folder", may_be_missing=True),
                                validation=validation, sources=tuple(sources)))
        return tuple(out)

    def _compute(self, data: dict) -> ComputeSpec:
        compute = self._mapping(data, "compute", "compute: {type: g1-gpu-rtx6000-1, region: us-east, nodes: 1}")
        self._keys(compute, "compute", ("type", "region", "nodes"))
        for key in ("type", "region"):
            if key not in compute:
                raise self.doc.error("compute", f"missing `compute.{key}`",
                                     hint="e.g. compute: {type: g1-gpu-rtx6000-1, region: us-east, nodes: 1}")
        plan = self._plan(compute, "type", "compute.type")
        region = self._region(compute, "region", "compute.region")
        gpus = self.catalogue.plans[plan]
        if gpus and not self.catalogue.regions[region]:
            raise self.doc.error("compute.region", f"`{region}` has no GPU instances and `{plan}` is a GPU plan",
                                 hint="GPU regions: " + ", ".join(self.catalogue.gpu_regions()))
        nodes = self._integer(compute, "nodes", "compute.nodes", default=1, low=1)
        return ComputeSpec(type=plan, region=region, nodes=nodes, gpus_per_node=gpus)

    def _storage(self, data: dict, target: str, compute: ComputeSpec) -> StorageSpec:
        if data.get("storage") is None:
            if target == "linode":
                raise self.doc.error("", "missing `storage`",
                                     hint="the linode target needs a bucket of your own: storage: {bucket: NAME}")
            return StorageSpec(via="object-storage", bucket=DEFAULT_BUCKET, prefix=DEFAULT_PREFIX,
                               region=compute.region)
        storage = self._mapping(data, "storage", "storage: {bucket: stager-data, via: object-storage}")
        self._keys(storage, "storage", ("via", "bucket", "prefix", "region", "volume", "outputs_bucket"))
        via = self._string(storage, "via", where="storage.via", default="object-storage")
        if via not in VIA:
            raise self.doc.error("storage.via", f"unknown way `{via}`",
                                 hint=did_you_mean(via, VIA) or "object-storage (a bucket prefix) or volume")
        if "bucket" not in storage and target == "linode":
            raise self.doc.error("storage", "missing `storage.bucket`",
                                 hint="the linode target needs a bucket of your own, e.g. bucket: ${STAGER_BUCKET}")
        bucket = self._string(storage, "bucket", where="storage.bucket", default=DEFAULT_BUCKET)
        if "prefix" not in storage:
            prefix = DEFAULT_PREFIX
        elif storage["prefix"] is None:
            prefix = ""
        else:
            prefix = self._string(storage, "prefix", where="storage.prefix", empty_ok=True)
        self._s3_location(bucket, "", "storage.bucket")
        self._s3_location(bucket, prefix, "storage.prefix")
        outputs = self._string(storage, "outputs_bucket", where="storage.outputs_bucket",
                               default=f"{bucket}-runs")
        self._s3_location(outputs, "", "storage.outputs_bucket")
        if outputs == bucket:
            raise self.doc.error("storage.outputs_bucket", "the outputs bucket must differ from the data bucket",
                                 hint="instances may write the outputs bucket but only read the data bucket; "
                                      f"e.g. outputs_bucket: {bucket}-runs")
        region = self._region(storage, "region", "storage.region") if "region" in storage else compute.region
        size_gb = label = None
        if via == "volume":
            size_gb, label = self._volume(storage)
        elif "volume" in storage:
            raise self.doc.error("storage.volume", "a volume is used only with via: volume",
                                 hint="add via: volume, or remove storage.volume")
        return StorageSpec(via=via, bucket=bucket, prefix=prefix.strip("/"), region=region, volume_size_gb=size_gb,
                           volume_label=label, outputs_bucket=outputs)

    def _volume(self, storage: dict) -> tuple[int, str | None]:
        volume = storage.get("volume")
        if volume is None:
            return DEFAULT_VOLUME_GB, None
        if not isinstance(volume, dict):
            raise self.doc.error("storage.volume", f"expected a mapping, got {kind_of(volume)}",
                                 hint="e.g. volume: {size_gb: 20}")
        self._keys(volume, "storage.volume", ("size_gb", "label"))
        low, high = VOLUME_GB_RANGE
        size_gb = self._integer(volume, "size_gb", "storage.volume.size_gb", default=DEFAULT_VOLUME_GB, low=low,
                                high=high)
        label = None
        if "label" in volume:
            label = self._string(volume, "label", where="storage.volume.label")
            if not _VOLUME_LABEL.match(label):
                raise self.doc.error("storage.volume.label", f"invalid volume label {label!r}",
                                     hint="1-32 letters, digits, _ and -, starting with a letter, no doubled symbol")
        return size_gb, label

    def _outputs(self, data: dict) -> OutputsSpec:
        if data.get("outputs") is None:
            return OutputsSpec()
        outputs = self._mapping(data, "outputs", "outputs: {checkpoints: true, logs: true, metrics: true}")
        self._keys(outputs, "outputs", ("checkpoints", "logs", "metrics"))
        return OutputsSpec(**{key: self._boolean(outputs, key, f"outputs.{key}", default=True)
                              for key in ("checkpoints", "logs", "metrics")})

    def _budget(self, data: dict) -> BudgetSpec:
        budget = self._mapping(data, "budget", "budget: {max_usd: 5, max_hours: 2}")
        self._keys(budget, "budget", ("max_usd", "max_hours", "expected_hours"))
        for key in ("max_usd", "max_hours"):
            if key not in budget:
                raise self.doc.error("budget", f"missing `budget.{key}`",
                                     hint="e.g. budget: {max_usd: 5, max_hours: 2}")
        max_usd = self._positive(budget, "max_usd", "budget.max_usd", "dollars", "5")
        max_hours = self._positive(budget, "max_hours", "budget.max_hours", "hours", "2")
        expected = None
        if budget.get("expected_hours") is not None:
            expected = self._positive(budget, "expected_hours", "budget.expected_hours", "hours", "0.5")
            if expected > max_hours:
                raise self.doc.error("budget.expected_hours", f"{expected:g} is above max_hours {max_hours:g}",
                                     hint="training is stopped at max_hours; raise it or expect less")
        return BudgetSpec(max_usd=max_usd, max_hours=max_hours, expected_hours=expected)

    def _rehearse(self, data: dict, compute: ComputeSpec) -> RehearseSpec:
        value = data.get("rehearse")
        if value is None or isinstance(value, bool):
            return RehearseSpec(enabled=bool(value))
        if not isinstance(value, dict):
            raise self.doc.error("rehearse", f"expected true, false or a mapping, got {kind_of(value)}",
                                 hint="e.g. rehearse: {type: g6-standard-2, max_hours: 1}")
        self._keys(value, "rehearse", ("enabled", "type", "max_hours"))
        default = RehearseSpec()
        plan = self._plan(value, "type", "rehearse.type") if "type" in value else default.type
        if self.catalogue.plans.get(plan) and not self.catalogue.regions.get(compute.region):
            raise self.doc.error("rehearse.type", f"`{plan}` is a GPU plan and {compute.region} has no GPU instances",
                                 hint="the rehearsal runs in compute.region: use a CPU plan such as g6-standard-2")
        return RehearseSpec(
            enabled=self._boolean(value, "enabled", "rehearse.enabled", default=True),
            type=plan,
            max_hours=(self._positive(value, "max_hours", "rehearse.max_hours", "hours", "1")
                       if value.get("max_hours") is not None else default.max_hours),
        )

    def _slurm_sections(self, data: dict) -> dict:
        """A slurm run's sections: the cluster stands in for image, compute, storage and budget."""
        if data.get(SLURM) is None:
            raise self.doc.error("", "missing `slurm`", hint="target slurm needs slurm: {partition: gpu, "
                                                             'time: "02:00:00", nodes: 1, gpus_per_node: 1}')
        return dict(image=None, data=self._data(data), storage=None, budget=None, outputs=self._outputs(data),
                    rehearse=RehearseSpec(), slurm=check_slurm_section(self, data))

    # -- catalogue and paths ---------------------------------------------------------

    def _plan(self, mapping: dict, key: str, where: str) -> str:
        plan = self._string(mapping, key, where=where)
        if plan not in self.catalogue.plans:
            hint = did_you_mean(plan, self.catalogue.plans) or "GPU plans: " + ", ".join(self.catalogue.gpu_plans())
            raise self.doc.error(where, f"unknown plan `{plan}`", hint=hint)
        return plan

    def _region(self, mapping: dict, key: str, where: str) -> str:
        region = self._string(mapping, key, where=where)
        if region not in self.catalogue.regions:
            hint = (did_you_mean(region, self.catalogue.regions)
                    or "regions: " + ", ".join(sorted(self.catalogue.regions)))
            raise self.doc.error(where, f"unknown region `{region}`", hint=hint)
        return region

    def _s3_location(self, bucket: str, prefix: str, where: str) -> None:
        from stager.storage.s3 import S3Location

        try:
            S3Location.parse(f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}")
        except UsageError as exc:
            raise self.doc.error(where, str(exc).split(": ", 1)[-1],
                                 hint="a bucket name is 3-63 lowercase letters, digits, . and -" if not prefix
                                 else "folders separated by /, none empty or starting with a dot") from None

    def _existing(self, written: str, where: str, *, want_file: bool, what: str, may_be_missing: bool = False) -> Path:
        """``written`` resolved: as is when absolute, else in the pipeline's folder, else in the working folder."""
        given = Path(written).expanduser()
        folder = self.path.parent
        candidates = [given] if given.is_absolute() else [folder / given, Path.cwd() / given]
        for candidate in candidates:
            if candidate.exists():
                if want_file != candidate.is_file():
                    raise self.doc.error(where, f"`{written}` is a {'folder' if want_file else 'file'}, not a {what}",
                                         hint="give the path of the recipe file" if want_file
                                         else "a dataset is a folder")
                return candidate.resolve()
        if may_be_missing:
            return candidates[-1].resolve()
        hint = _closest_path(written, candidates)
        if hint is None:
            hint = (f"looked beside the pipeline ({folder}) and in the working folder ({Path.cwd()})"
                    if not given.is_absolute() else "check the path")
        raise self.doc.error(where, f"{what} not found: {written}", hint=hint)

    # -- typed getters ---------------------------------------------------------------

    def _keys(self, mapping: dict, where: str, allowed: tuple[str, ...]) -> None:
        self.doc.check_keys(mapping, where, allowed)

    def _mapping(self, data: dict, key: str, example: str) -> dict:
        value = data[key]
        if not isinstance(value, dict):
            raise self.doc.error(key, f"expected a mapping, got {kind_of(value)}", hint=f"e.g. {example}")
        return value

    def _string(self, data: dict, key: str, *, where: str | None = None, default: str | None = None,
                empty_ok: bool = False) -> str:
        where = where or key
        if key not in data and default is not None:
            return default
        value = data.get(key)
        if not isinstance(value, str) and where in self.substituted.texts:
            value = self.substituted.texts[where]  # `${VAR}` alone that read as a number: the text was meant
        if not isinstance(value, str) or not (empty_ok or value.strip()):
            raise self.doc.error(where, f"expected a non-empty string, got {kind_of(value)}", hint="quote it if unsure")
        return value

    def _boolean(self, data: dict, key: str, where: str, *, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.doc.error(where, f"expected true or false, got {kind_of(value)}")
        return value

    def _integer(self, data: dict, key: str, where: str, *, default: int, low: int, high: int | None = None) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.doc.error(where, f"expected a whole number, got {kind_of(value)}", hint=f"e.g. {default}")
        if value < low or (high is not None and value > high):
            span = f"at least {low}" if high is None else f"between {low} and {high}"
            raise self.doc.error(where, f"must be {span}, got {value}")
        return value

    def _positive(self, data: dict, key: str, where: str, unit: str, example: str) -> float:
        value = data.get(key)
        hint = f"e.g. {key}: {example}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.doc.error(where, f"expected a number of {unit}, got {kind_of(value)}", hint=hint)
        if not value > 0:
            raise self.doc.error(where, f"must be above 0, got {value:g}", hint=hint)
        if not math.isfinite(value):
            raise self.doc.error(where, f"must be a finite number, got {value:g}", hint=hint)
        return float(value)

def _closest_path(written: str, candidates: list[Path]) -> str | None:
    """'did you mean `images/cpu.yaml`?' when a file beside where ``written`` was looked for is close."""
    # Stems are compared: a shared ".yaml" would make any two names look alike.
    by_stem = {p.stem: p.name for c in candidates if c.parent.is_dir() for p in sorted(c.parent.iterdir())}
    close = difflib.get_close_matches(Path(written).stem, sorted(by_stem), n=1, cutoff=0.6)
    return f"did you mean `{Path(written).with_name(by_stem[close[0]])}`?" if close else None
