"""A sprint's experiments: a grid, a random sweep or an explicit list of changes to the trainer config.

Each experiment is the pipeline's ``train:`` config with some values replaced.
A value is named by its dotted path in that config, as ``stager train fit``
overrides name it: ``model.init_args.lr``, ``data.init_args.batch_size``,
``trainer.max_epochs``, ``seed_everything``; a number in the path indexes a
list (``trainer.callbacks.0.init_args.patience``).

- **grid**: every combination of the listed values, the first parameter varying
  slowest (as nested loops written in file order).
- **random**: ``count`` draws from distributions (``choice``, ``uniform``,
  ``log_uniform``, ``int_uniform``), reproducible by ``seed``.
- **list**: experiments written out one by one, each optionally named.

Everything here is pure: expanding the same section gives the same experiments.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DISTRIBUTIONS", "Experiment", "apply_overrides", "expand_grid", "name_experiments", "sample_random",
           "set_path"]

DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int_uniform")


@dataclass(frozen=True)
class Experiment:
    name: str  # unique in the sprint: "e01", "e02", ... or the name a list entry gave
    overrides: Mapping[str, Any] = field(default_factory=dict)  # dotted train-config path -> value, in file order
    index: int = 0  # its position in the sweep (0-based): the order ties are broken by

    @property
    def label(self) -> str:
        """What distinguishes it, short: ``hidden=64 lr=0.001`` (the last part of each path)."""
        short = _short_names(list(self.overrides))
        return " ".join(f"{short[path]}={_show(value)}" for path, value in self.overrides.items()) or "(base config)"


def expand_grid(parameters: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``parameters`` (path -> values), the first path varying slowest."""
    paths = list(parameters)
    return [dict(zip(paths, values)) for values in itertools.product(*(parameters[p] for p in paths))]


def sample_random(space: Mapping[str, tuple[str, Any]], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` draws from ``space`` (path -> (distribution, argument)), reproducible by ``seed``.

    ``choice`` takes a list; ``uniform``, ``log_uniform`` and ``int_uniform`` take [low, high]
    (``int_uniform`` includes both ends). Floats keep 6 significant digits, so a config reads
    ``lr: 0.000316228`` rather than seventeen digits of noise.
    """
    rng = random.Random(seed)
    draws = []
    for _ in range(count):
        draw = {}
        for path, (kind, argument) in space.items():
            draw[path] = _draw(rng, kind, argument)
        draws.append(draw)
    return draws


def _draw(rng: random.Random, kind: str, argument: Any) -> Any:
    if kind == "choice":
        return copy.deepcopy(rng.choice(list(argument)))
    low, high = argument
    if kind == "int_uniform":
        return rng.randint(int(low), int(high))
    if kind == "uniform":
        return float(f"{rng.uniform(low, high):.6g}")
    if kind == "log_uniform":
        return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.6g}")
    raise ValueError(f"unknown distribution {kind!r}; one of {', '.join(DISTRIBUTIONS)}")


def name_experiments(changes: Sequence[Mapping[str, Any]], names: Sequence[str | None] | None = None
                     ) -> list[Experiment]:
    """Experiments from their overrides: named ``e01``, ``e02``... unless ``names`` gives one."""
    width = max(2, len(str(len(changes))))
    names = list(names) if names is not None else [None] * len(changes)
    return [Experiment(name=names[i] or f"e{i + 1:0{width}d}", overrides=dict(change), index=i)
            for i, change in enumerate(changes)]


def apply_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with each override set (see `set_path`)."""
    out = copy.deepcopy(dict(config))
    for path, value in overrides.items():
        set_path(out, path, copy.deepcopy(value))
    return out


def set_path(config: dict, path: str, value: Any) -> None:
    """Set ``config[a][b][c] = value`` for ``path`` "a.b.c", creating mappings on the way.

    A number indexes an existing list.

    Raises:
        ValueError: the path is empty, goes through a value that is neither a
            mapping nor a list, or indexes past a list's end. Names the part.
    """
    parts = path.split(".")
    if not path or any(not part for part in parts):
        raise ValueError(f"`{path}` is not a dotted path such as model.init_args.lr")
    node: Any = config
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"`{where}`: the list there has {len(node)} item(s); index it with 0-{len(node) - 1}")
            if last:
                node[int(part)] = value
                return
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        else:
            raise ValueError(f"`{'.'.join(parts[:depth])}` is a value, not a section: `{path}` cannot be set")


def _short_names(paths: list[str]) -> dict[str, str]:
    """Each path's last part, or more of it where two paths would read the same."""
    out = {}
    for path in paths:
        parts = path.split(".")
        for take in range(1, len(parts) + 1):
            short = ".".join(parts[-take:])
            if sum(1 for other in paths if other == short or other.endswith("." + short)) == 1:
                break
        out[path] = short
    return out


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
