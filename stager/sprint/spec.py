"""Sprint files: a pipeline with a ``sprint:`` section, checked field by field like every stager file.

::

    sprint:
      experiments:                       # exactly one of grid, random, list
        grid:
          model.init_args.hidden: [64, 128]
          model.init_args.lr: [0.001, 0.003]
      plans: [g1-gpu-rtx6000-1, g1-gpu-rtx6000-2]   # what the planner may rent (default: compute.type)
      deadline: 8h                       # or an ISO time "2026-11-22T06:00:00Z"
      window: {start: "22:00", end: "06:00"}         # UTC; the sprint starts in it and ends by its end
      schedule: "0 22 * * *"             # cron: when `stager sprint schedule` runs it
      priority: [e03, {model.init_args.lr: 0.001}]   # run first, dropped last when money is short
      halving: {metric: val_loss, mode: min, every_epochs: 1, keep: 0.5}
      probe: {steps: 20}                 # or false: how a duration is measured when no past run tells

The rest of the file is an ordinary pipeline, and its meaning changes in one
place only: ``budget.max_usd`` caps the whole sprint, while ``budget.max_hours``
caps each experiment and ``budget.expected_hours`` is the user's estimate of one
experiment. Every experiment's trainer config is checked as ``stager train fit``
would check it, each swept value once, so a misspelt path or a wrong type is
reported at its line before anything is planned.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from stager.errors import ConfigError
from stager.pipeline import PipelineSpec, load_pipeline
from stager.pipeline.spec import TrainSpec
from stager.sprint.sweep import (
    DISTRIBUTIONS,
    Experiment,
    apply_overrides,
    expand_grid,
    name_experiments,
    sample_random,
)
from stager.yamlio import YamlDoc, kind_of

__all__ = ["HalvingSpec", "SprintSpec", "Window", "load_sprint"]

_KEYS = ("experiments", "plans", "deadline", "window", "schedule", "priority", "halving", "probe")
_SWEEPS = ("grid", "random", "list")
_EXAMPLE = "e.g. experiments: {grid: {model.init_args.lr: [0.001, 0.003]}}"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?$")
MAX_EXPERIMENTS = 10_000  # a sweep past this is a typo in a grid, not a plan
DEFAULT_PROBE_STEPS = 20


@dataclass(frozen=True)
class Window:
    start: time  # UTC time of day the sprint may start from
    end: time  # UTC time of day it must be finished by (the next one after it starts)

    def contains(self, moment: datetime) -> bool:
        now = moment.astimezone(timezone.utc).time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # across midnight

    def next_start(self, moment: datetime) -> datetime:
        """``moment`` when it is in the window, else the window's next opening."""
        if self.contains(moment):
            return moment
        return _next_time_of_day(moment, self.start)

    def end_after(self, start: datetime) -> datetime:
        return _next_time_of_day(start, self.end)


@dataclass(frozen=True)
class HalvingSpec:
    metric: str  # a logged metric, e.g. val_loss
    mode: str  # "min" or "max": which way is better
    every_epochs: int  # a rung every this many epochs
    keep: float  # the fraction of experiments that go on past each rung (0 < keep < 1)
    min_peers: int  # results a rung needs before anyone is stopped at it


@dataclass(frozen=True)
class SprintSpec:
    pipeline: PipelineSpec  # the file as a pipeline: data, image, compute, budget, base trainer config
    experiments: tuple[Experiment, ...]  # in sweep order
    sweep: str  # grid | random | list
    plans: tuple[str, ...]  # the plans the planner may choose from
    priority: tuple[Any, ...] = ()  # experiment names or {path: value} matchers, most urgent first
    deadline: timedelta | datetime | None = None  # hours after the start, or an absolute time
    window: Window | None = None
    schedule: str | None = None  # a cron expression
    halving: HalvingSpec | None = None
    probe_steps: int = DEFAULT_PROBE_STEPS  # 0: never probe
    configs: Mapping[str, dict] = field(default_factory=dict, repr=False)  # experiment name -> its train config

    @property
    def name(self) -> str:
        return self.pipeline.name

    @property
    def path(self) -> Path:
        return self.pipeline.path

    def experiment(self, name: str) -> Experiment:
        """Raises: KeyError: no experiment has that name."""
        for experiment in self.experiments:
            if experiment.name == name:
                return experiment
        raise KeyError(name)

    def experiment_pipeline(self, name: str) -> PipelineSpec:
        """The pipeline one experiment runs: the sprint's, with the experiment's trainer config."""
        return dataclasses.replace(self.pipeline, train=TrainSpec(config=self.configs[name]), sprint=None)

    def priority_of(self, experiment: Experiment) -> int:
        """0 for the first `priority` entry it matches, 1 for the second, ...; len(priority) when none."""
        for rank, entry in enumerate(self.priority):
            if entry == experiment.name:
                return rank
            if isinstance(entry, Mapping) and all(experiment.overrides.get(k, _MISSING) == v for k, v in entry.items()):
                return rank
        return len(self.priority)

    def deadline_at(self, start: datetime) -> datetime | None:
        """When a sprint that starts at ``start`` must be done: the earliest of its deadline and window end."""
        ends = []
        if isinstance(self.deadline, timedelta):
            ends.append(start + self.deadline)
        elif isinstance(self.deadline, datetime):
            ends.append(self.deadline)
        if self.window is not None:
            ends.append(self.window.end_after(start))
        return min(ends) if ends else None


_MISSING = object()


def load_sprint(path: str | Path, *, environ: Mapping[str, str] | None = None, target: str | None = None,
                check_train: bool = True) -> SprintSpec:
    """Read a sprint file: the pipeline it is, then its ``sprint:`` section and every experiment.

    Raises:
        ConfigError: anything `load_pipeline` refuses; no ``sprint:`` section; a bad
            sprint field; an experiment whose trainer config the trainer refuses.
            Located at the file, line and dotted field.
    """
    pipeline = load_pipeline(path, environ=environ, target=target, check_train=check_train)
    if pipeline.sprint is None:
        raise pipeline.error("", "no `sprint:` section: this is a single run",
                             hint=f"run it with `stager run {path}`, or add sprint: {{experiments: {{grid: ...}}}}")
    return _SprintChecker(pipeline).check(check_train)


class _SprintChecker:
    def __init__(self, pipeline: PipelineSpec) -> None:
        self.pipeline = pipeline
        self.doc: YamlDoc = pipeline.doc or YamlDoc(data={}, path=str(pipeline.path))

    def error(self, where: str, problem: str, hint: str | None = None) -> ConfigError:
        return self.doc.error(f"sprint.{where}" if where else "sprint", problem, hint)

    def check(self, check_train: bool) -> SprintSpec:
        section = self.pipeline.sprint
        if not isinstance(section, dict):
            raise self.error("", f"expected a mapping, got {kind_of(section)}",
                             hint="e.g. sprint: {experiments: {grid: {model.init_args.lr: [0.001, 0.003]}}}")
        self.doc.check_keys(section, "sprint", _KEYS)
        if "experiments" not in section:
            raise self.error("", "missing `sprint.experiments`", hint=_EXAMPLE)
        sweep, experiments = self._experiments(section["experiments"])
        configs = {e.name: apply_overrides(self.pipeline.train.config, e.overrides) for e in experiments}
        if check_train:
            self._check_configs(experiments)
        return SprintSpec(
            pipeline=self.pipeline, experiments=tuple(experiments), sweep=sweep, plans=self._plans(section),
            priority=self._priority(section, experiments), deadline=self._deadline(section),
            window=self._window(section), schedule=self._schedule(section), halving=self._halving(section),
            probe_steps=self._probe(section), configs=configs)

    # -- experiments --------------------------------------------------------------------------------

    def _experiments(self, value: Any) -> tuple[str, list[Experiment]]:
        if not isinstance(value, dict) or len(value) != 1:
            raise self.error("experiments", "expected exactly one of grid, random or list", hint=_EXAMPLE)
        self.doc.check_keys(value, "sprint.experiments", _SWEEPS)
        (sweep, body), = value.items()
        where = f"experiments.{sweep}"
        if sweep == "grid":
            changes = expand_grid(self._grid(body, where))
            experiments = name_experiments(changes)
        elif sweep == "random":
            experiments = name_experiments(self._random(body, where))
        else:
            experiments = self._list(body, where)
        if not experiments:
            raise self.error(where, "no experiments", hint="list at least one value per parameter")
        if len(experiments) > MAX_EXPERIMENTS:
            raise self.error(where, f"{len(experiments)} experiments; at most {MAX_EXPERIMENTS}",
                             hint="fewer values per parameter, or a random sweep with a count")
        return sweep, experiments

    def _grid(self, body: Any, where: str) -> dict[str, list]:
        if not isinstance(body, dict) or not body:
            raise self.error(where, f"expected parameters and their values, got {kind_of(body)}",
                             hint="e.g. grid: {model.init_args.lr: [0.001, 0.003]}")
        for path, values in body.items():
            self._path(path, f"{where}.{path}")
            if not isinstance(values, list) or not values:
                raise self.error(f"{where}.{path}", f"expected a list of values, got {kind_of(values)}",
                                 hint=f"e.g. {path}: [1, 2]")
        return body

    def _random(self, body: Any, where: str) -> list[dict]:
        if not isinstance(body, dict):
            raise self.error(where, f"expected count, seed and space, got {kind_of(body)}",
                             hint="e.g. random: {count: 8, seed: 0, space: {model.init_args.lr: "
                                  "{log_uniform: [0.0001, 0.01]}}}")
        self.doc.check_keys(body, f"sprint.{where}", ("count", "seed", "space"))
        count = self._integer(body, "count", f"{where}.count", low=1, default=None)
        seed = self._integer(body, "seed", f"{where}.seed", low=0, default=0)
        space = body.get("space")
        if not isinstance(space, dict) or not space:
            raise self.error(f"{where}.space", f"expected parameters and their distributions, got {kind_of(space)}",
                             hint="e.g. space: {model.init_args.lr: {log_uniform: [0.0001, 0.01]}}")
        parsed = {}
        for path, spec in space.items():
            at = f"{where}.space.{path}"
            self._path(path, at)
            parsed[path] = self._distribution(spec, at)
        return sample_random(parsed, count, seed)

    def _distribution(self, spec: Any, at: str) -> tuple[str, Any]:
        hint = "one of {choice: [a, b]}, {uniform: [low, high]}, {log_uniform: [low, high]}, {int_uniform: [1, 5]}"
        if not isinstance(spec, dict) or len(spec) != 1:
            raise self.error(at, f"expected one distribution, got {kind_of(spec)}", hint=hint)
        self.doc.check_keys(spec, f"sprint.{at}", DISTRIBUTIONS)
        (kind, argument), = spec.items()
        if kind == "choice":
            if not isinstance(argument, list) or not argument:
                raise self.error(f"{at}.choice", f"expected a list of values, got {kind_of(argument)}", hint=hint)
            return kind, argument
        numbers = (isinstance(argument, list) and len(argument) == 2
                   and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in argument))
        if not numbers or argument[0] > argument[1]:
            raise self.error(f"{at}.{kind}", f"expected [low, high] with low <= high, got {kind_of(argument)}",
                             hint=hint)
        if kind == "log_uniform" and argument[0] <= 0:
            raise self.error(f"{at}.{kind}", "a log-uniform range must be above 0", hint="e.g. [0.0001, 0.01]")
        if kind == "int_uniform" and not all(float(v).is_integer() for v in argument):
            raise self.error(f"{at}.{kind}", "expected whole numbers", hint="e.g. [1, 5]")
        return kind, argument

    def _list(self, body: Any, where: str) -> list[Experiment]:
        if not isinstance(body, list) or not body:
            raise self.error(where, f"expected a list of experiments, got {kind_of(body)}",
                             hint="e.g. list: [{name: small, set: {model.init_args.hidden: 64}}]")
        names, changes = [], []
        for i, entry in enumerate(body):
            at = f"{where}.{i}"
            if not isinstance(entry, dict):
                raise self.error(at, f"expected a mapping, got {kind_of(entry)}",
                                 hint="{name: small, set: {model.init_args.hidden: 64}}")
            self.doc.check_keys(entry, f"sprint.{at}", ("name", "set"))
            name = entry.get("name")
            if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
                raise self.error(f"{at}.name", f"invalid experiment name {name!r}",
                                 hint="1-32 lowercase letters, digits, _ and -")
            if name in names:
                raise self.error(f"{at}.name", f"experiment `{name}` is named twice", hint="give each its own name")
            change = entry.get("set") or {}
            if not isinstance(change, dict):
                raise self.error(f"{at}.set", f"expected parameters and values, got {kind_of(change)}",
                                 hint="e.g. set: {model.init_args.hidden: 64}")
            for path in change:
                self._path(path, f"{at}.set.{path}")
            names.append(name)
            changes.append(change)
        experiments = name_experiments(changes, names)
        generated = {e.name for e, given in zip(experiments, names) if given is None}
        clash = generated & {n for n in names if n}
        if clash:
            raise self.error(where, f"name {sorted(clash)[0]} is also the name of an unnamed experiment",
                             hint="name every experiment, or avoid names like e01")
        return experiments

    def _path(self, path: Any, at: str) -> None:
        if not isinstance(path, str) or not all(part for part in path.split(".")):
            raise self.error(at, f"`{path}` is not a dotted path into the trainer config",
                             hint="e.g. model.init_args.lr, data.init_args.batch_size, trainer.max_epochs")
        head = path.split(".")[0]
        if head not in self.pipeline.train.config and head != "seed_everything":
            sections = ", ".join(sorted(self.pipeline.train.config)) or "none"
            raise self.error(at, f"`{head}` is not a section of the train config",
                             hint=f"sections in train: {sections}")

    def _check_configs(self, experiments: list[Experiment]) -> None:
        """Each swept value once, in the base config (checking 1,000 grid points would check the same values)."""
        from stager.pipeline.spec_train import check_train_section

        seen: set[tuple[str, str]] = set()
        for experiment in experiments:
            for path, value in experiment.overrides.items():
                key = (path, repr(value))
                if key in seen:
                    continue
                seen.add(key)
                try:
                    config = apply_overrides(self.pipeline.train.config, {path: value})
                    check_train_section(YamlDoc(data={"train": config}, path=self.doc.path), config, check=True)
                except (ConfigError, ValueError) as exc:
                    problem = exc.problem if isinstance(exc, ConfigError) else str(exc)
                    raise self.error(self._written_at(experiment, path),
                                     f"experiment {experiment.name} ({path} = {value!r}): {problem}",
                                     hint=getattr(exc, "hint", None)) from None

    def _written_at(self, experiment: Experiment, path: str) -> str:
        section = self.pipeline.sprint["experiments"]
        if "grid" in section:
            return f"experiments.grid.{path}"
        if "random" in section:
            return f"experiments.random.space.{path}"
        return f"experiments.list.{experiment.index}.set.{path}"

    # -- the rest ---------------------------------------------------------------------------------

    def _plans(self, section: dict) -> tuple[str, ...]:
        from stager.pipeline.spec_catalogue import Catalogue

        plans = section.get("plans")
        if plans is None:
            return (self.pipeline.compute.type,)
        if not isinstance(plans, list) or not plans or not all(isinstance(p, str) for p in plans):
            raise self.error("plans", f"expected a list of plan ids, got {kind_of(plans)}",
                             hint="e.g. plans: [g1-gpu-rtx6000-1, g1-gpu-rtx6000-2]")
        catalogue = Catalogue.offline()
        for i, plan in enumerate(plans):
            if plan not in catalogue.plans:
                from stager.suggest import did_you_mean

                raise self.error(f"plans.{i}", f"unknown plan `{plan}`",
                                 hint=did_you_mean(plan, catalogue.plans) or "GPU plans: "
                                 + ", ".join(catalogue.gpu_plans()))
            if bool(catalogue.plans[plan]) != bool(self.pipeline.compute.gpus_per_node):
                kind = "a GPU" if catalogue.plans[plan] else "a CPU"
                raise self.error(f"plans.{i}", f"`{plan}` is {kind} plan and compute.type "
                                               f"`{self.pipeline.compute.type}` is not",
                                 hint="the plans must be GPU plans like compute.type (or all CPU plans)")
        if len(set(plans)) != len(plans):
            raise self.error("plans", "a plan is listed twice", hint="list each plan once")
        return tuple(plans)

    def _priority(self, section: dict, experiments: list[Experiment]) -> tuple[Any, ...]:
        value = section.get("priority")
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error("priority", f"expected a list, got {kind_of(value)}",
                             hint="e.g. priority: [e03, {model.init_args.lr: 0.001}]")
        names = {e.name for e in experiments}
        for i, entry in enumerate(value):
            if isinstance(entry, str):
                if entry not in names:
                    from stager.suggest import did_you_mean

                    raise self.error(f"priority.{i}", f"no experiment is named `{entry}`",
                                     hint=did_you_mean(entry, sorted(names)) or "see `stager sprint plan` for names")
            elif isinstance(entry, dict) and entry:
                if not any(all(e.overrides.get(k, _MISSING) == v for k, v in entry.items()) for e in experiments):
                    raise self.error(f"priority.{i}", f"no experiment has {entry}",
                                     hint="a matcher names swept parameters and one of their values")
            else:
                raise self.error(f"priority.{i}", f"expected an experiment name or {{path: value}}, got "
                                                  f"{kind_of(entry)}")
        return tuple(value)

    def _deadline(self, section: dict) -> timedelta | datetime | None:
        value = section.get("deadline")
        if value is None:
            return None
        if isinstance(value, datetime):  # YAML reads an unquoted ISO time itself
            moment = value
        elif isinstance(value, str) and (match := _DURATION.match(value)):
            amount, unit = float(match.group(1)), match.group(2)
            hours = amount / 60 if unit in ("m", "min") else amount * 24 if unit == "d" else amount
            if hours <= 0:
                raise self.error("deadline", "must be after the start", hint="e.g. deadline: 8h")
            return timedelta(hours=hours)
        else:
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise self.error("deadline", f"`{value}` is neither a duration nor a time",
                                 hint="e.g. deadline: 8h, 90m, or \"2026-11-22T06:00:00Z\"") from None
        if moment.tzinfo is None:
            raise self.error("deadline", f"`{value}` has no time zone", hint="end it with Z for UTC")
        return moment

    def _window(self, section: dict) -> Window | None:
        value = section.get("window")
        if value is None:
            return None
        hint = 'e.g. window: {start: "22:00", end: "06:00"} (UTC)'
        if not isinstance(value, dict):
            raise self.error("window", f"expected start and end, got {kind_of(value)}", hint=hint)
        self.doc.check_keys(value, "sprint.window", ("start", "end"))
        times = {}
        for key in ("start", "end"):
            text = value.get(key)
            if isinstance(text, int) and not isinstance(text, bool):  # YAML 1.1 reads 22:00 as 1320 (minutes)
                text = f"{text // 60:02d}:{text % 60:02d}"
            match = _CLOCK.match(text) if isinstance(text, str) else None
            if match is None:
                raise self.error(f"window.{key}", f"expected a UTC time HH:MM, got {kind_of(text)}", hint=hint)
            times[key] = time(int(match.group(1)), int(match.group(2)))
        if times["start"] == times["end"]:
            raise self.error("window", "start and end are the same time", hint=hint)
        return Window(times["start"], times["end"])

    def _schedule(self, section: dict) -> str | None:
        value = section.get("schedule")
        if value is None:
            return None
        from stager.sprint.cron import parse_cron

        if not isinstance(value, str):
            raise self.error("schedule", f"expected a cron expression, got {kind_of(value)}",
                             hint='e.g. schedule: "0 22 * * 1-5" (22:00 UTC on weekdays)')
        try:
            parse_cron(value)
        except ValueError as exc:
            raise self.error("schedule", f"`{value}`: {exc}",
                             hint="five fields: minute hour day-of-month month day-of-week") from None
        return value

    def _halving(self, section: dict) -> HalvingSpec | None:
        value = section.get("halving")
        if value is None or value is False:
            return None
        hint = "e.g. halving: {metric: val_loss, mode: min, every_epochs: 1, keep: 0.5}"
        if not isinstance(value, dict):
            raise self.error("halving", f"expected a mapping, got {kind_of(value)}", hint=hint)
        self.doc.check_keys(value, "sprint.halving", ("metric", "mode", "every_epochs", "keep", "min_peers"))
        metric = value.get("metric")
        if not isinstance(metric, str) or not metric:
            raise self.error("halving.metric", f"expected a logged metric's name, got {kind_of(metric)}", hint=hint)
        mode = value.get("mode", "min")
        if mode not in ("min", "max"):
            raise self.error("halving.mode", f"expected min or max, got {kind_of(mode)}", hint=hint)
        keep = value.get("keep", 0.5)
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep < 1:
            raise self.error("halving.keep", f"expected a fraction between 0 and 1, got {kind_of(keep)}", hint=hint)
        return HalvingSpec(metric=metric, mode=mode,
                           every_epochs=self._integer(value, "every_epochs", "halving.every_epochs", low=1, default=1),
                           keep=float(keep),
                           min_peers=self._integer(value, "min_peers", "halving.min_peers", low=1, default=2))

    def _probe(self, section: dict) -> int:
        value = section.get("probe", True)
        if value is True:
            return DEFAULT_PROBE_STEPS
        if value is False:
            return 0
        if not isinstance(value, dict):
            raise self.error("probe", f"expected true, false or {{steps: N}}, got {kind_of(value)}")
        self.doc.check_keys(value, "sprint.probe", ("steps",))
        return self._integer(value, "steps", "probe.steps", low=2, default=DEFAULT_PROBE_STEPS)

    def _integer(self, mapping: dict, key: str, where: str, *, low: int, default: int | None) -> int:
        value = mapping.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(where, f"expected a whole number, got {kind_of(value)}", hint=f"e.g. {key}: {low + 1}")
        if value < low:
            raise self.error(where, f"must be at least {low}, got {value}")
        return value


def _next_time_of_day(moment: datetime, at: time) -> datetime:
    """The first ``at`` (UTC) strictly after ``moment``... or at it, when ``moment`` is exactly there."""
    moment = moment.astimezone(timezone.utc)
    candidate = moment.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate >= moment else candidate + timedelta(days=1)
