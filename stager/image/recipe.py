"""Gold-image recipes (``images/*.yaml``): loaded safely, checked field by field, typed.

A recipe says how to turn a base image into a gold image::

    name: cpu                                # the image's label: stager-<name>-<hash>
    base: linode/ubuntu24.04
    builder: {type: g6-standard-2, region: us-east}
    apt: [python3-venv]
    pip: ["torch==2.13.0", numpy]            # or {packages: [...], index_url, extra_index_urls, requirements}
    stager: wheel                            # the controller's own stager, built and installed (or: none)
    files: [{src: setup/motd, dest: /etc/motd}]
    env: {OMP_NUM_THREADS: "8"}
    run: ["nvidia-smi || true"]
    smoke: ["python -c 'import torch, stager.train'"]
    timeouts: {boot: 600, step: 1800, capture: 1800}

Every mistake is a `ConfigError` naming the file, the line, the dotted field and
a hint. Paths in ``files`` and ``pip.requirements`` are relative to the recipe's
folder. Not supported: includes of other recipes, templating, per-target
sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from stager import yamlio
from stager.errors import ConfigError
from stager.yamlio import YamlDoc, kind_of

__all__ = ["PipSpec", "Recipe", "RecipeFile", "Timeouts", "load_recipe"]

_TOP_KEYS = ("name", "description", "base", "builder", "apt", "pip", "stager", "files", "env", "run",
             "smoke", "timeouts")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$")
_APT_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9.+:=~-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMAGE = re.compile(r"^(linode/[A-Za-z0-9._-]+|private/[0-9]+)$")


@dataclass(frozen=True)
class PipSpec:
    packages: tuple[str, ...] = ()  # requirement specifiers, e.g. "torch==2.13.0"
    index_url: str | None = None  # replaces PyPI (e.g. PyTorch's CUDA wheel index)
    extra_index_urls: tuple[str, ...] = ()  # searched besides the index
    requirements: Path | None = None  # a requirements file, resolved against the recipe's folder


@dataclass(frozen=True)
class RecipeFile:
    src: Path  # a local file, resolved against the recipe's folder
    dest: str  # absolute path on the image
    mode: int = 0o644  # permission bits of the copy


@dataclass(frozen=True)
class Timeouts:
    boot: float = 600.0  # seconds from create to SSH answering
    step: float = 1800.0  # seconds one setup command or smoke test may take
    capture: float = 1800.0  # seconds from capture to the image being available


@dataclass(frozen=True)
class Recipe:
    name: str  # short lowercase name; the image is labelled stager-<name>-<hash prefix>
    base: str  # the image the builder boots: linode/<distro> or private/<id>
    builder_type: str  # the builder's plan: a cheap CPU plan
    builder_region: str  # where the builder runs and the image is captured
    path: Path  # the recipe file
    description: str = ""
    apt: tuple[str, ...] = ()  # Debian/Ubuntu packages
    pip: PipSpec = field(default_factory=PipSpec)
    stager: str = "wheel"  # "wheel": install the controller's own stager; "none": do not
    files: tuple[RecipeFile, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # environment of run and smoke commands
    run: tuple[str, ...] = ()  # setup commands, in order, each a shell command line
    smoke: tuple[str, ...] = ()  # checks that must pass before the image is captured
    timeouts: Timeouts = field(default_factory=Timeouts)
    doc: YamlDoc | None = field(default=None, repr=False, compare=False)  # for locating later errors

    def error(self, field_path: str, problem: str, hint: str | None = None) -> ConfigError:
        """A ConfigError located at ``field_path`` of this recipe's file."""
        if self.doc is None:
            return ConfigError(problem, file=str(self.path), field=field_path, hint=hint)
        return self.doc.error(field_path, problem, hint)


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file.

    Raises:
        ConfigError: the file is missing or not YAML, a key is unknown, a value has
            the wrong type or form, or a referenced file does not exist.
    """
    path = Path(path)
    doc = yamlio.load(path)
    return _Checker(doc, path.parent).recipe(path)


class _Checker:
    def __init__(self, doc: YamlDoc, folder: Path) -> None:
        self.doc = doc
        self.folder = folder

    def recipe(self, path: Path) -> Recipe:
        data = self.doc.data
        if not isinstance(data, dict):
            raise self.doc.error("", "a recipe must be a mapping of keys to values",
                                 hint="start from images/cpu.yaml")
        self._keys(data, "", _TOP_KEYS)
        for required in ("name", "base", "builder"):
            if required not in data:
                raise self.doc.error("", f"missing `{required}`", hint=_REQUIRED_HINTS[required])
        name = self._string(data, "name")
        if not _NAME.match(name):
            raise self.doc.error("name", f"invalid name {name!r}",
                                 hint="use 1-20 lowercase letters, digits and dashes, e.g. gold")
        base = self._string(data, "base")
        if not _IMAGE.match(base):
            raise self.doc.error("base", f"invalid base image {base!r}",
                                 hint="a public image like linode/ubuntu24.04, or private/<id>")
        builder = self._mapping(data, "builder")
        self._keys(builder, "builder", ("type", "region"))
        for key in ("type", "region"):
            if key not in builder:
                raise self.doc.error("builder", f"missing `builder.{key}`",
                                     hint="e.g. builder: {type: g6-standard-2, region: us-east}")
        stager = self._string(data, "stager", default="wheel")
        if stager not in ("wheel", "none"):
            raise self.doc.error("stager", f"unknown value {stager!r}",
                                 hint="`wheel` installs the controller's own stager; `none` leaves it out")
        return Recipe(
            name=name,
            base=base,
            builder_type=self._string(builder, "type", where="builder.type"),
            builder_region=self._string(builder, "region", where="builder.region"),
            path=path,
            description=self._string(data, "description", default=""),
            apt=self._apt(data),
            pip=self._pip(data),
            stager=stager,
            files=self._files(data),
            env=self._env(data),
            run=self._strings(data, "run"),
            smoke=self._strings(data, "smoke"),
            timeouts=self._timeouts(data),
            doc=self.doc,
        )

    # -- sections ---------------------------------------------------------------

    def _apt(self, data: dict) -> tuple[str, ...]:
        packages = self._strings(data, "apt")
        for index, package in enumerate(packages):
            if not _APT_PACKAGE.match(package):
                raise self.doc.error(f"apt.{index}", f"invalid package name {package!r}",
                                     hint="one package per item, e.g. python3-venv or nvidia-driver-550")
        return packages

    def _pip(self, data: dict) -> PipSpec:
        value = data.get("pip")
        if value is None:
            return PipSpec()
        if isinstance(value, list):
            return PipSpec(packages=self._strings(data, "pip"))
        if not isinstance(value, dict):
            raise self.doc.error("pip", f"expected a list of requirements or a mapping, got {kind_of(value)}",
                                 hint='e.g. pip: ["torch==2.13.0", numpy]')
        self._keys(value, "pip", ("packages", "index_url", "extra_index_urls", "requirements"))
        requirements = None
        if "requirements" in value:
            requirements = self._existing_file(self._string(value, "requirements", where="pip.requirements"),
                                               "pip.requirements")
        index_url = self._string(value, "index_url", where="pip.index_url", default="") or None
        return PipSpec(
            packages=self._strings(value, "packages", where="pip.packages"),
            index_url=index_url,
            extra_index_urls=self._strings(value, "extra_index_urls", where="pip.extra_index_urls"),
            requirements=requirements,
        )

    def _files(self, data: dict) -> tuple[RecipeFile, ...]:
        items = data.get("files")
        if items is None:
            return ()
        if not isinstance(items, list):
            raise self.doc.error("files", f"expected a list, got {kind_of(items)}",
                                 hint="e.g. files: [{src: setup/motd, dest: /etc/motd}]")
        out = []
        for index, item in enumerate(items):
            where = f"files.{index}"
            if not isinstance(item, dict):
                raise self.doc.error(where, f"expected a mapping with src and dest, got {kind_of(item)}",
                                     hint="e.g. {src: setup/motd, dest: /etc/motd}")
            self._keys(item, where, ("src", "dest", "mode"))
            for key in ("src", "dest"):
                if key not in item:
                    raise self.doc.error(where, f"missing `{where}.{key}`", hint="each file needs src and dest")
            src = self._existing_file(self._string(item, "src", where=f"{where}.src"), f"{where}.src")
            dest = self._string(item, "dest", where=f"{where}.dest")
            posix = PurePosixPath(dest)
            if not posix.is_absolute() or ".." in posix.parts:
                raise self.doc.error(f"{where}.dest", f"invalid destination {dest!r}",
                                     hint="an absolute path on the image without `..`, e.g. /etc/motd")
            mode = item.get("mode", 0o644)
            if isinstance(mode, str) and re.fullmatch(r"0?[0-7]{3}", mode):
                mode = int(mode, 8)
            if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o777:
                raise self.doc.error(f"{where}.mode", f"invalid mode {mode!r}", hint='an octal string like "0755"')
            out.append(RecipeFile(src=src, dest=str(posix), mode=mode))
        return tuple(out)

    def _env(self, data: dict) -> tuple[tuple[str, str], ...]:
        env = data.get("env")
        if env is None:
            return ()
        if not isinstance(env, dict):
            raise self.doc.error("env", f"expected a mapping of names to values, got {kind_of(env)}",
                                 hint='e.g. env: {OMP_NUM_THREADS: "8"}')
        out = []
        for key, value in env.items():
            if not isinstance(key, str) or not _ENV_NAME.match(key):
                raise self.doc.error(f"env.{key}", f"invalid variable name {key!r}",
                                     hint="letters, digits and _, not starting with a digit")
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise self.doc.error(f"env.{key}", f"expected a string, got {kind_of(value)}", hint="quote the value")
            out.append((key, str(value)))
        return tuple(out)

    def _timeouts(self, data: dict) -> Timeouts:
        value = data.get("timeouts")
        if value is None:
            return Timeouts()
        if not isinstance(value, dict):
            raise self.doc.error("timeouts", f"expected a mapping, got {kind_of(value)}",
                                 hint="e.g. timeouts: {boot: 600, step: 1800, capture: 1800}")
        self._keys(value, "timeouts", ("boot", "step", "capture"))
        seconds = {}
        for key, number in value.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0:
                raise self.doc.error(f"timeouts.{key}", f"expected a positive number of seconds, got {number!r}",
                                     hint="e.g. 600")
            seconds[key] = float(number)
        return Timeouts(**seconds)

    # -- typed getters ------------------------------------------------------------

    def _keys(self, mapping: dict, where: str, allowed: tuple[str, ...]) -> None:
        self.doc.check_keys(mapping, where, allowed)

    def _mapping(self, data: dict, key: str) -> dict:
        value = data[key]
        if not isinstance(value, dict):
            raise self.doc.error(key, f"expected a mapping, got {kind_of(value)}",
                                 hint="e.g. builder: {type: g6-standard-2, region: us-east}")
        return value

    def _string(self, data: dict, key: str, *, where: str | None = None, default: str | None = None) -> str:
        where = where or key
        if key not in data and default is not None:
            return default
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.doc.error(where, f"expected a non-empty string, got {kind_of(value)}", hint="quote it if unsure")
        return value

    def _strings(self, data: dict, key: str, *, where: str | None = None) -> tuple[str, ...]:
        where = where or key
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.doc.error(where, f"expected a list of strings, got {kind_of(value)}",
                                 hint=f"write it as a list: {key}: [...]")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.doc.error(f"{where}.{index}", f"expected a non-empty string, got {kind_of(item)}",
                                     hint="quote items that YAML would read as numbers or mappings")
        return tuple(value)

    def _existing_file(self, relative: str, where: str) -> Path:
        path = (self.folder / relative).resolve()
        if not path.is_file():
            raise self.doc.error(where, f"file not found: {relative}",
                                 hint=f"paths are relative to the recipe's folder ({self.folder or '.'})")
        return path


_REQUIRED_HINTS = {
    "name": "add a short name, e.g. name: gold",
    "base": "add the base image, e.g. base: linode/ubuntu24.04",
    "builder": "add builder: {type: g6-standard-2, region: us-east}",
}
