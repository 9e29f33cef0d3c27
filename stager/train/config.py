"""LightningCLI-shaped trainer configs: load, check, print, build and run.

A config file has these sections (all optional except ``model``)::

    seed_everything: 42        # int, true (random, recorded), false/null (none)
    trainer: {max_epochs: 5, callbacks: [...], logger: {...}}   # Trainer arguments
    model: {class_path: pkg.mod.MyModule, init_args: {hidden: 64}}
    data: {class_path: pkg.mod.MyData, init_args: {batch_size: 32}}
    optimizer: {class_path: AdamW, init_args: {lr: 1.0e-3}}     # replaces configure_optimizers
    lr_scheduler: {class_path: StepLR, init_args: {step_size: 10}}
    ckpt_path: null            # or a path, "last", "best"

Everything is checked before anything is built, and every mistake is a
``ConfigError`` naming the file and line (or the command-line override) and the
dotted field.  ``trainer.callbacks`` items are class sections or the shorthands
``{checkpoint: {...}}``, ``{early_stopping: {...}}``, ``{lr_monitor: {...}}``,
``{progress_bar: {...}}``; short class names of callbacks and loggers resolve
inside ``stager.train``, of optimizers in ``torch.optim`` and of schedulers in
``torch.optim.lr_scheduler``.  As in LightningCLI, an absent ``seed_everything``
means true: a random seed is drawn and written to the saved config.

Not supported: LightningCLI's ``--print_config=skip_null``-style modes,
subcommand-specific sections, linking arguments between sections, more than one
optimizer, and reading ``--config`` from the environment.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from stager import yamlio
from stager.errors import ConfigError, UsageError
from stager.train.config_classes import (
    ClassSpec,
    Signature,
    check_args,
    class_spec,
    did_you_mean,
    import_class,
    plain,
    shown,
)
from stager.train.config_overrides import Sources, parse_overrides

SECTIONS = ("seed_everything", "trainer", "model", "data", "optimizer", "lr_scheduler", "ckpt_path")
SUBCOMMANDS = ("fit", "validate", "test", "predict")
CALLBACK_SHORTHANDS = {
    "checkpoint": "ModelCheckpoint",
    "early_stopping": "EarlyStopping",
    "lr_monitor": "LearningRateMonitor",
    "progress_bar": "TQDMProgressBar",
}
_CALLBACK_MODULES = ("stager.train", "stager.train.callbacks")
_LOGGER_MODULES = ("stager.train.loggers", "stager.train")
# Our ReduceLROnPlateau is found first: it carries the metric to watch.
_SCHEDULER_MODULES = ("stager.train.config", "torch.optim.lr_scheduler")
CONFIG_FILE = "config.yaml"
PREDICTIONS_FILE = "predictions.pt"


class ReduceLROnPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """torch's ReduceLROnPlateau plus ``monitor``, the logged metric it steps on."""

    def __init__(self, optimizer: torch.optim.Optimizer, monitor: str, **kwargs: Any) -> None:
        super().__init__(optimizer, **kwargs)
        self.monitor = monitor


@dataclass
class Plan:
    """A checked config: classes resolved and arguments validated, nothing built yet."""

    sources: Sources
    seed: int | bool | None
    trainer: dict[str, Any]  # Trainer arguments; callbacks a list of ClassSpec, logger a ClassSpec/list/bool
    model: ClassSpec
    data: ClassSpec | None
    optimizer: ClassSpec | None
    lr_scheduler: ClassSpec | None
    ckpt_path: str | None

    def to_dict(self) -> dict[str, Any]:
        """The resolved config: given Trainer arguments only, model/data with their defaults."""
        out: dict[str, Any] = {"seed_everything": self.seed, "trainer": plain(self.trainer)}
        out["model"] = self.model.to_dict(defaults=True)
        if self.data is not None:
            out["data"] = self.data.to_dict(defaults=True)
        for name in ("optimizer", "lr_scheduler"):
            spec = getattr(self, name)
            if spec is not None:
                out[name] = spec.to_dict()
        if self.ckpt_path is not None:
            out["ckpt_path"] = self.ckpt_path
        return out


# -- loading and checking ------------------------------------------------------


def load(config_paths: list[str | Path], args: list[str]) -> Plan:
    """Read the config files in order, apply the ``--dotted.key value`` overrides, check it all."""
    docs = [yamlio.load(path) for path in config_paths]
    return check(Sources(docs, parse_overrides(list(args))))


def check(sources: Sources) -> Plan:
    data = sources.data
    for key in data:
        if key not in SECTIONS:
            hint = did_you_mean(str(key), SECTIONS) or "sections are " + ", ".join(SECTIONS)
            raise sources.error(str(key), f"unknown section `{key}`", hint=hint)
    seed = data.get("seed_everything", True)
    if not (seed is None or isinstance(seed, bool) or (isinstance(seed, int) and 0 <= seed < 2**32)):
        raise sources.error(
            "seed_everything", f"expected an integer in [0, 2**32), true or false, got {shown(seed)}"
        )
    ckpt_path = data.get("ckpt_path")
    if ckpt_path is not None and not isinstance(ckpt_path, str):
        raise sources.error("ckpt_path", f"expected a path, \"last\", \"best\" or null, got {shown(ckpt_path)}")
    if data.get("model") is None:
        raise sources.error(
            "model",
            "no model configured",
            hint="add model: {class_path: pkg.module.MyModule, init_args: {...}} or pass --model.class_path",
        )
    from stager.train.datamodule import DataModule
    from stager.train.module import Module

    model = class_spec(data["model"], "model", sources, base=Module, what="model")
    datamodule = None
    if data.get("data") is not None:
        datamodule = class_spec(data["data"], "data", sources, base=DataModule, what="datamodule")
    optimizer, scheduler = _check_optim(sources, data)
    trainer = _check_trainer(sources, data.get("trainer"))
    return Plan(sources, seed, trainer, model, datamodule, optimizer, scheduler, ckpt_path)


def _check_optim(sources: Sources, data: dict) -> tuple[ClassSpec | None, ClassSpec | None]:
    optimizer = scheduler = None
    if data.get("optimizer") is not None:
        optimizer = class_spec(
            data["optimizer"], "optimizer", sources, base=torch.optim.Optimizer,
            short_modules=("torch.optim",), supplied=("params",), what="optimizer",
        )  # fmt: skip
    if data.get("lr_scheduler") is not None:
        if optimizer is None:
            raise sources.error(
                "lr_scheduler", "lr_scheduler needs an optimizer section", hint="add optimizer: {class_path: ...}"
            )
        _refuse_bare_plateau(sources, data["lr_scheduler"])
        scheduler = class_spec(
            data["lr_scheduler"], "lr_scheduler", sources, base=torch.optim.lr_scheduler.LRScheduler,
            short_modules=_SCHEDULER_MODULES, supplied=("optimizer",), what="lr_scheduler",
        )  # fmt: skip
        if issubclass(scheduler.cls, torch.optim.lr_scheduler.ReduceLROnPlateau):
            _refuse_bare_plateau(sources, data["lr_scheduler"], scheduler.cls)
    return optimizer, scheduler


def _refuse_bare_plateau(sources: Sources, raw: Any, cls: type | None = None) -> None:
    """A plateau scheduler must know which logged metric to step on; torch's does not."""
    if cls is None:
        path = raw.get("class_path") if isinstance(raw, dict) else raw
        try:
            cls = import_class(path, _SCHEDULER_MODULES) if isinstance(path, str) else None
        except UsageError:
            return  # reported, with its location, by class_spec
    if cls is not None and issubclass(cls, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if "monitor" not in inspect.signature(cls).parameters:
            where = "lr_scheduler.class_path" if isinstance(raw, dict) else "lr_scheduler"
            raise sources.error(
                where,
                f"{cls.__name__} does not say which logged metric to watch",
                hint="use class_path: ReduceLROnPlateau (stager's, with init_args.monitor: <metric>)",
            )


def _check_trainer(sources: Sources, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    from stager.train import Trainer

    if not isinstance(raw, dict):
        raise sources.error("trainer", f"expected a mapping of Trainer arguments, got {shown(raw)}")
    args = check_args("Trainer", Signature.of(Trainer), raw, "trainer", sources, unchecked=("callbacks", "logger"))
    if "callbacks" in args:
        args["callbacks"] = _check_callbacks(sources, args["callbacks"])
    if "logger" in args:
        args["logger"] = _check_logger(sources, args["logger"])
    return args


def _check_callbacks(sources: Sources, raw: Any) -> list[ClassSpec]:
    from stager.train.callbacks.base import Callback

    if raw is None:
        return []
    items = [(raw, "trainer.callbacks")] if not isinstance(raw, list) else [
        (item, f"trainer.callbacks.{i}") for i, item in enumerate(raw)
    ]
    specs = []
    for item, where in items:
        if isinstance(item, dict) and len(item) == 1 and "class_path" not in item:
            specs.append(_shorthand_callback(sources, item, where))
        else:
            specs.append(
                class_spec(item, where, sources, base=Callback, short_modules=_CALLBACK_MODULES, what="callback")
            )
    return specs


def _shorthand_callback(sources: Sources, item: dict, where: str) -> ClassSpec:
    """``{checkpoint: {monitor: val_loss}}`` -> ModelCheckpoint(monitor="val_loss")."""
    (key, args), = item.items()
    if key not in CALLBACK_SHORTHANDS:
        hint = did_you_mean(str(key), CALLBACK_SHORTHANDS) or (
            "shorthands are " + ", ".join(CALLBACK_SHORTHANDS) + "; otherwise write {class_path: ..., init_args: ...}"
        )
        raise sources.error(f"{where}.{key}", f"unknown callback shorthand `{key}`", hint=hint)
    cls = import_class(CALLBACK_SHORTHANDS[key], _CALLBACK_MODULES)
    signature = Signature.of(cls)
    checked = check_args(cls.__name__, signature, args, f"{where}.{key}", sources)
    return ClassSpec(cls, checked, where, f"{where}.{key}", signature)


def _check_logger(sources: Sources, raw: Any) -> Any:
    from stager.train.loggers.base import Logger

    if raw is None or isinstance(raw, bool):
        return raw
    items = [(raw, "trainer.logger")] if not isinstance(raw, list) else [
        (item, f"trainer.logger.{i}") for i, item in enumerate(raw)
    ]
    specs = []
    for item, where in items:
        if not isinstance(item, (str, dict)):
            raise sources.error(where, f"expected true, false or a logger {{class_path, init_args}}, got {shown(item)}")
        specs.append(class_spec(item, where, sources, base=Logger, short_modules=_LOGGER_MODULES, what="logger"))
    return specs if isinstance(raw, list) else specs[0]


def render(plan: Plan) -> str:
    """The resolved config as YAML (what ``--print-config`` prints and ``config.yaml`` holds)."""
    return yaml.safe_dump(plan.to_dict(), sort_keys=False, default_flow_style=False)


# -- building and running ------------------------------------------------------


@dataclass
class Built:
    trainer: Any
    model: Any
    datamodule: Any
    config: dict[str, Any]
    config_path: Path | None


def build(plan: Plan) -> Built:
    """Seed, then build model, datamodule, callbacks, loggers and Trainer; save the resolved config."""
    from stager.train import Trainer, seed_everything

    config = plan.to_dict()
    if plan.seed is not None and plan.seed is not False:
        seed = seed_everything(None if plan.seed is True else plan.seed, workers=True)
        config["seed_everything"] = seed  # a drawn seed is recorded so the run can be repeated
    sources = plan.sources
    model = plan.model.instantiate(sources)
    if plan.optimizer is not None:
        _attach_optimizer(model, plan.optimizer, plan.lr_scheduler, sources)
    datamodule = plan.data.instantiate(sources) if plan.data is not None else None
    kwargs = {k: v.instantiate(sources) if isinstance(v, ClassSpec) else v for k, v in plan.trainer.items()}
    if "callbacks" in kwargs:
        kwargs["callbacks"] = [spec.instantiate(sources) for spec in plan.trainer["callbacks"]]
    if isinstance(kwargs.get("logger"), list):
        kwargs["logger"] = [spec.instantiate(sources) for spec in kwargs["logger"]]
    try:
        trainer = Trainer(**kwargs)
    except ConfigError:
        raise
    except (UsageError, ValueError, TypeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # Point at the given argument the message names first ("unknown precision 'bf17'").
        named = sorted((m.start(), k) for k in plan.trainer if (m := re.search(rf"\b{k}\b", message)))
        where = f"trainer.{named[0][1]}" if named else "trainer"
        raise sources.error(where, f"Trainer refused its arguments: {message}") from exc
    trainer.resolved_config = config
    return Built(trainer, model, datamodule, config, save_config(trainer, config))


def _attach_optimizer(model: Any, optimizer: ClassSpec, scheduler: ClassSpec | None, sources: Sources) -> None:
    """Replace ``model.configure_optimizers`` with one built from the config sections."""
    # Built once now so a refused argument is reported with its line, before training.
    trial = optimizer.instantiate(sources, params=model.parameters())
    if scheduler is not None:
        scheduler.instantiate(sources, optimizer=trial)
    configure = _ConfiguredOptimizers(
        model,
        (optimizer.cls, optimizer.args),
        (scheduler.cls, scheduler.args) if scheduler is not None else None,
    )
    # An instance attribute shadows the class's method; nn.Module stores plain objects as-is.
    model.configure_optimizers = configure


class _ConfiguredOptimizers:
    """``configure_optimizers`` from the optimizer/lr_scheduler sections.  A class, not a
    closure, so the model still pickles when the trainer spawns one process per device."""

    def __init__(self, model: Any, optimizer: tuple[type, dict], scheduler: tuple[type, dict] | None) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def __call__(self) -> Any:
        cls, args = self.optimizer
        opt = cls(self.model.parameters(), **args)
        if self.scheduler is None:
            return opt
        cls, args = self.scheduler
        sched = cls(opt, **args)
        lr_config: dict[str, Any] = {"scheduler": sched}
        if getattr(sched, "monitor", None):
            lr_config["monitor"] = sched.monitor
        return {"optimizer": opt, "lr_scheduler": lr_config}


def output_dir(trainer: Any) -> Path:
    """Where a run's config and predictions go: the logger's folder, else default_root_dir."""
    return Path(trainer.log_dir or getattr(trainer, "default_root_dir", None) or os.getcwd())


def save_config(trainer: Any, config: dict[str, Any]) -> Path | None:
    """Write ``config.yaml`` beside the logs, on rank zero only; returns its path there."""
    if not trainer.is_global_zero:
        return None
    path = output_dir(trainer) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader never sees half a config
    return path


def run(
    subcommand: str,
    config_paths: list[str | Path],
    args: list[str],
    print_config: bool = False,
    echo: Callable[[str], Any] = print,
) -> Any:
    """What ``stager train <subcommand>`` does.  Returns the trainer's result; for
    ``predict`` the path of the saved predictions (rank zero's list, via torch.save)."""
    if subcommand not in SUBCOMMANDS:
        raise UsageError(f"unknown subcommand {subcommand!r}; use one of {', '.join(SUBCOMMANDS)}")
    plan = load(config_paths, args)
    if print_config:
        echo(render(plan).rstrip("\n"))
        return None
    built = build(plan)
    method = getattr(built.trainer, subcommand)
    result = method(built.model, datamodule=built.datamodule, ckpt_path=plan.ckpt_path)
    if subcommand != "predict":
        return result
    path = (output_dir(built.trainer) / PREDICTIONS_FILE).absolute()
    if built.trainer.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(result, path)
    return path
