"""Layering config files and command-line overrides, and locating each field's origin.

``stager train fit --config a.yaml --config b.yaml --trainer.max_epochs 5``
merges, in order: ``a.yaml``, then ``b.yaml``, then each override.  Mappings
merge key by key; any other value (lists included) replaces the earlier one.
A section whose ``class_path`` changes in a later file is replaced whole, so init
arguments of the old class do not leak into the new one; ``--model.class_path``
on the command line keeps the init arguments written so far.

Override syntax: ``--dotted.key VALUE`` or ``--dotted.key=VALUE``; the value is
read as YAML (``5`` an int, ``true`` a bool, ``[a, b]`` a list, ``null`` None).
``--model.hidden 64`` is short for ``--model.init_args.hidden 64``, and so is any
key written under a mapping that has a ``class_path``.  A number picks a list
item (``--trainer.callbacks.0.init_args.patience 3``).  Not supported: appending
to a list (``+=``), flags without a value, and ``--config`` inside a config file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from stager.errors import ConfigError
from stager.yamlio import YamlDoc

# Top-level sections whose keys other than class_path/init_args are init arguments.
CLASS_SECTIONS = ("model", "data", "optimizer", "lr_scheduler")
_SPEC_KEYS = ("class_path", "init_args")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
# PyYAML (YAML 1.1) reads "1e-3" as a string; a learning rate written so is a number.
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


@dataclass
class Override:
    """One ``--key value`` from the command line."""

    key: str  # dotted, after expanding the init_args shortcut
    value: Any
    text: str  # as the user typed it, for error messages


def parse_value(text: str) -> Any:
    """A command-line value read as YAML; text that is not valid YAML stays a string."""
    if _FLOAT.match(text.strip()):
        return float(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(args: list[str]) -> list[Override]:
    """Parse ``--key value`` / ``--key=value`` pairs; keys are not checked against any schema here."""
    overrides: list[Override] = []
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or token == "--":
            raise ConfigError(
                f"unexpected argument {token!r}",
                hint="overrides are written --section.key VALUE, e.g. --trainer.max_epochs 5",
            )
        body = token[2:]
        if "=" in body:
            key, text = body.split("=", 1)
            i += 1
        else:
            key = body
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(
                    f"override {token} has no value",
                    field=key,
                    hint=f"write {token} VALUE (a flag needs an explicit true), or {token}=VALUE",
                )
            text = args[i + 1]
            i += 2
        if not _KEY.match(key):
            raise ConfigError(
                f"{token!r} is not a dotted key", hint="keys look like trainer.max_epochs or model.init_args.hidden"
            )
        shown = f"--{key}={text}" if "=" in body else f"--{key} {text}"
        overrides.append(Override(key=key, value=parse_value(text), text=shown))
    return overrides


def expand_shortcut(data: dict, key: str) -> str:
    """``model.hidden`` -> ``model.init_args.hidden``; likewise under any mapping with a class_path."""
    parts = key.split(".")
    out: list[str] = []
    node: Any = data
    for i, part in enumerate(parts):
        # A string where a key is asked for can only be a class path (`logger: CSVLogger`).
        at_section = (i == 1 and parts[0] in CLASS_SECTIONS) or (
            i > 0 and (isinstance(node, str) or isinstance(node, dict) and "class_path" in node)
        )
        if at_section and part not in _SPEC_KEYS:
            out.append("init_args")
            node = node.get("init_args") if isinstance(node, dict) else None
        out.append(part)
        node = _child(node, part)
    return ".".join(out)


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None


def merge(base: Any, update: Any) -> Any:
    """Deep-merge ``update`` onto ``base`` (see the module docstring for the rules)."""
    if not (isinstance(base, dict) and isinstance(update, dict)):
        return update
    if "class_path" in update and "class_path" in base and update["class_path"] != base["class_path"]:
        return dict(update)
    merged = dict(base)
    for key, value in update.items():
        merged[key] = merge(merged[key], value) if key in merged else value
    return merged


def set_dotted(data: dict, override: Override) -> None:
    """Write ``override.value`` at its dotted key inside ``data``, creating mappings on the way."""
    parts = override.key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                where = ".".join(parts[:depth])
                raise ConfigError(
                    f"`{where}` has {len(node)} item(s); there is no item {part}",
                    field=override.key,
                    hint=f"given on the command line as `{override.text}`; list items are numbered from 0",
                )
            index = int(part)
            if last:
                node[index] = merge(node[index], override.value)
                return
            if isinstance(node[index], str) and parts[depth + 1] in _SPEC_KEYS:
                node[index] = {"class_path": node[index]}
            elif not isinstance(node[index], (dict, list)):
                node[index] = {}
            node = node[index]
            continue
        if last:
            node[part] = merge(node[part], override.value) if part in node else override.value
            return
        child = node.get(part)
        if isinstance(child, str) and parts[depth + 1] in _SPEC_KEYS:
            node[part] = {"class_path": child}  # `model: pkg.Class` then `--model.init_args.x`
        elif not isinstance(child, (dict, list)):
            node[part] = {}
        node = node[part]


# -- where each field came from -------------------------------------------


@dataclass
class _OverrideLayer:
    override: Override
    # dotted path -> value, for the override's key and everything inside its value
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _flatten(self.override.key, self.override.value, self.values)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    out[prefix] = value
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten(f"{prefix}.{key}", child, out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _flatten(f"{prefix}.{index}", child, out)


def _doc_value(data: Any, dotted: str) -> Any:
    node = data
    for part in dotted.split("."):
        node = _child(node, part)
    return node


Layer = Union[YamlDoc, _OverrideLayer]


class Sources:
    """The merged config plus, for any dotted field, the file line or override that set it."""

    def __init__(self, docs: list[YamlDoc], overrides: list[Override]) -> None:
        self.layers: list[Layer] = list(docs)
        data: dict = {}
        for doc in docs:
            if doc.data is None:
                continue
            if not isinstance(doc.data, dict):
                raise doc.error("", "a trainer config must be a mapping of sections", hint=_SECTIONS_HINT)
            data = merge(data, doc.data)
        for override in overrides:
            override.key = expand_shortcut(data, override.key)
            set_dotted(data, override)
            self.layers.append(_OverrideLayer(override))
        self.data = data

    def _prefix_in(self, layer: Layer, dotted: str) -> tuple[str | None, Any]:
        """The longest prefix of ``dotted`` that ``layer`` wrote, and the value written there."""
        known = layer.lines if isinstance(layer, YamlDoc) else layer.values
        path = dotted
        while path:
            if path in known:
                value = _doc_value(layer.data, path) if isinstance(layer, YamlDoc) else layer.values[path]
                return path, value
            path = path.rpartition(".")[0]
        return None, None

    def origin(self, dotted: str) -> Layer | None:
        """The latest layer that set ``dotted`` (or a non-mapping parent of it); else the
        layer that wrote its nearest parent."""
        best: tuple[int, Layer] | None = None
        for layer in reversed(self.layers):
            path, value = self._prefix_in(layer, dotted)
            if path is None:
                continue
            if path == dotted or not isinstance(value, dict):
                return layer
            if best is None or len(path) > best[0]:
                best = (len(path), layer)
        if best is not None:
            return best[1]
        # Nothing wrote any part of it: blame an override below it, else the last file.
        for layer in reversed(self.layers):
            if isinstance(layer, _OverrideLayer) and layer.override.key.startswith(dotted + "."):
                return layer
        docs = [layer for layer in self.layers if isinstance(layer, YamlDoc)]
        return docs[-1] if docs else None

    def error(self, dotted: str, problem: str, hint: str | None = None) -> ConfigError:
        """A ConfigError located at ``dotted``: file and line, or the override that set it."""
        layer = self.origin(dotted)
        field_name = dotted or None
        if isinstance(layer, YamlDoc):
            return layer.error(dotted, problem, hint) if dotted else ConfigError(problem, file=layer.path, hint=hint)
        if isinstance(layer, _OverrideLayer):
            where = f"given on the command line as `{layer.override.text}`"
            return ConfigError(problem, field=field_name, hint=f"{where}; {hint}" if hint else where)
        return ConfigError(problem, field=field_name, hint=hint)


_SECTIONS_HINT = "sections are seed_everything, trainer, model, data, ckpt_path"
