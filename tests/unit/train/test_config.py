"""LightningCLI-shaped configs: overrides, precedence, located mistakes, print-config, build."""

from __future__ import annotations

import os
import pickle
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from stager.errors import ConfigError
from stager.train import EarlyStopping, LearningRateMonitor, ModelCheckpoint, Trainer
from stager.train import config as cfg
from stager.train.config_overrides import parse_overrides, parse_value

MODELS = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from stager.train import Callback, DataModule, Module


class Net(Module):
    def __init__(self, hidden: int = 8, lr: float = 0.1, act: str = "relu", dropout: float | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(4, hidden)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class NeedsWidth(Module):
    def __init__(self, width: int):
        super().__init__()


class Loose(Module):
    def __init__(self, hidden: int = 8, **kwargs):
        super().__init__()
        self.extra = kwargs


class Picky(Module):
    def __init__(self, hidden: int = 8):
        super().__init__()
        if hidden > 100:
            raise ValueError("hidden must be at most 100")


class Data(DataModule):
    def __init__(self, batch_size: int = 4, n: int = 16):
        super().__init__()
        self.batch_size, self.n = batch_size, n

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(self.n, 4)), batch_size=self.batch_size)


class Count(Callback):
    def __init__(self, every: int = 1):
        self.every = every


not_a_class = 3
'''


@pytest.fixture(scope="module", autouse=True)
def models_on_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cfgmodels")
    (folder / "cfgunit_models.py").write_text(MODELS)
    (folder / "cfgunit_broken.py").write_text("import cfgunit_no_such_dependency\n")
    (folder / "cfgunit_raises.py").write_text("raise RuntimeError('boom at import')\n")
    sys.path.insert(0, str(folder))
    yield
    sys.path.remove(str(folder))
    for name in ("cfgunit_models", "cfgunit_broken", "cfgunit_raises"):
        sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def restore_environment():
    # seed_everything records the seed in os.environ; keep that out of other tests.
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


BASE = """\
seed_everything: 7
trainer:
  max_epochs: 3
  enable_progress_bar: false
model:
  class_path: cfgunit_models.Net
  init_args:
    hidden: 16
data:
  class_path: cfgunit_models.Data
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str = BASE, args: tuple[str, ...] = ()) -> cfg.Plan:
    return cfg.load([write(tmp_path, text)], list(args))


def mistake(tmp_path: Path, text: str, args: tuple[str, ...] = ()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, args)
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(textwrap.dedent(text).splitlines(), 1) if needle in line)


# -- parsing overrides ---------------------------------------------------------


def test_override_values_are_read_as_yaml():
    parsed = parse_overrides(
        ["--trainer.max_epochs", "5", "--trainer.fast_dev_run=true", "--model.layers", "[1, 2]", "--ckpt_path", "last"]
    )
    assert [(o.key, o.value) for o in parsed] == [
        ("trainer.max_epochs", 5),
        ("trainer.fast_dev_run", True),
        ("model.layers", [1, 2]),
        ("ckpt_path", "last"),
    ]


def test_override_values_edge_cases():
    assert parse_value("1e-3") == pytest.approx(0.001)  # YAML 1.1 would keep the string
    assert parse_value("-1") == -1
    assert parse_value("null") is None
    assert parse_value("[unclosed") == "[unclosed"
    assert parse_overrides(["--model.offset", "-1"])[0].value == -1
    assert parse_overrides(["--model.name=a=b"])[0].value == "a=b"


@pytest.mark.parametrize(
    "args, problem",
    [
        (["--trainer.max_epochs"], "has no value"),
        (["--trainer.max_epochs", "--seed_everything", "1"], "has no value"),
        (["max_epochs=3"], "unexpected argument"),
        (["--trainer..x", "1"], "not a dotted key"),
    ],
)
def test_malformed_overrides(args, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_overrides(args)


# -- precedence ------------------------------------------------------------------


def test_overrides_beat_files_and_later_files_beat_earlier(tmp_path):
    second = write(tmp_path, "trainer:\n  max_epochs: 4\nmodel:\n  init_args:\n    act: tanh\n", "second.yaml")
    plan = cfg.load([write(tmp_path, BASE), second], ["--trainer.max_epochs", "5", "--model.hidden", "64"])
    assert plan.trainer["max_epochs"] == 5
    assert plan.trainer["enable_progress_bar"] is False  # kept from the first file
    assert plan.model.args == {"hidden": 64, "act": "tanh"}


def test_shortcuts_and_key_value_form(tmp_path):
    plan = load(tmp_path, args=("--model.init_args.lr=0.5", "--model.act", "gelu", "--seed_everything=1"))
    assert plan.model.args == {"hidden": 16, "lr": 0.5, "act": "gelu"}
    assert plan.seed == 1


def test_changing_class_path_in_a_later_file_drops_old_init_args(tmp_path):
    second = write(tmp_path, "model:\n  class_path: cfgunit_models.NeedsWidth\n  init_args: {width: 3}\n", "b.yaml")
    plan = cfg.load([write(tmp_path, BASE), second], [])
    assert plan.model.cls.__name__ == "NeedsWidth" and plan.model.args == {"width": 3}


def test_model_given_only_on_the_command_line(tmp_path):
    plan = cfg.load([], ["--model", "cfgunit_models.Net", "--model.hidden", "3"])
    assert plan.model.cls.__name__ == "Net" and plan.model.args == {"hidden": 3}


def test_override_into_a_list_item(tmp_path):
    text = BASE + "  init_args: {batch_size: 2}\n"
    text = text.replace(
        "  enable_progress_bar: false\n",
        "  enable_progress_bar: false\n  callbacks:\n    - class_path: cfgunit_models.Count\n",
    )
    plan = load(tmp_path, text, ("--trainer.callbacks.0.every", "5"))
    assert plan.trainer["callbacks"][0].args == {"every": 5}
    error = mistake(tmp_path, text, ("--trainer.callbacks.3.every", "5"))
    assert "no item 3" in error.problem and "--trainer.callbacks.3.every 5" in error.hint


# -- mistakes, each located --------------------------------------------------------


def test_unknown_section_suggests_a_close_one(tmp_path):
    text = BASE + "modle: {}\n"
    error = mistake(tmp_path, text)
    assert (error.line, error.field) == (line_of(text, "modle"), "modle")
    assert "did you mean `model`" in error.hint
    assert str(error).startswith(f"{error.file}:{error.line}: `modle`: unknown section")


def test_unknown_trainer_argument(tmp_path):
    text = BASE.replace("max_epochs: 3", "max_epoch: 3")
    error = mistake(tmp_path, text)
    assert (error.line, error.field) == (2 + 1, "trainer.max_epoch")
    assert "Trainer has no argument `max_epoch`" in error.problem and "`max_epochs`" in error.hint


@pytest.mark.parametrize(
    "value, expected, hint",
    [
        ('"ten"', "an integer or null", None),
        ("true", "an integer or null", "not true/false"),
        ("3.0", "an integer or null", "write 3"),
        ('"3"', "an integer or null", "remove the quotes"),
    ],
)
def test_wrong_type_for_a_trainer_argument(tmp_path, value, expected, hint):
    error = mistake(tmp_path, BASE.replace("max_epochs: 3", f"max_epochs: {value}"))
    assert (error.line, error.field) == (3, "trainer.max_epochs")
    assert f"expected {expected}" in error.problem
    if hint:
        assert hint in error.hint


def test_an_int_is_not_a_flag(tmp_path):
    error = mistake(tmp_path, BASE.replace("enable_progress_bar: false", "enable_progress_bar: 1"))
    assert (error.line, error.field) == (4, "trainer.enable_progress_bar")
    assert "write true or false" in error.hint


def test_sensible_types_pass(tmp_path):
    text = BASE.replace(
        "max_epochs: 3",
        "max_epochs: null\n  fast_dev_run: 2\n  precision: 16-mixed\n  devices: [0]\n  limit_train_batches: 0.5\n"
        "  gradient_clip_val: 1\n  max_time: {hours: 1}",
    )
    plan = load(tmp_path, text)
    assert plan.trainer["fast_dev_run"] == 2 and plan.trainer["limit_train_batches"] == 0.5


def test_wrong_type_given_on_the_command_line_names_the_override(tmp_path):
    error = mistake(tmp_path, BASE, ("--trainer.max_epochs", "ten"))
    assert error.file is None and error.line is None and error.field == "trainer.max_epochs"
    assert "`--trainer.max_epochs ten`" in error.hint
    assert "\n" not in str(error)


def test_unknown_init_arg(tmp_path):
    text = BASE.replace("hidden: 16", "hiden: 16")
    error = mistake(tmp_path, text)
    assert (error.line, error.field) == (line_of(text, "hiden"), "model.init_args.hiden")
    assert "Net has no argument `hiden`" in error.problem and "`hidden`" in error.hint


def test_init_arg_of_wrong_type(tmp_path):
    text = BASE.replace("hidden: 16", "hidden: [16]")
    error = mistake(tmp_path, text)
    assert (error.line, error.field) == (line_of(text, "hidden"), "model.init_args.hidden")
    assert error.problem == "expected an integer, got a list"


def test_kwargs_accepts_unknown_init_args(tmp_path):
    plan = load(tmp_path, BASE.replace("cfgunit_models.Net", "cfgunit_models.Loose").replace("hidden: 16", "anything: 1"))
    assert plan.model.args == {"anything": 1}


def test_missing_required_init_arg(tmp_path):
    text = BASE.replace("cfgunit_models.Net", "cfgunit_models.NeedsWidth").replace("    hidden: 16\n", "    {}\n")
    text = text.replace("  init_args:\n    {}\n", "")
    error = mistake(tmp_path, text)
    assert error.field == "model.init_args" and error.line == line_of(text, "model:")
    assert "needs argument `width`" in error.problem


def test_float_written_the_yaml_1_1_way_becomes_a_float(tmp_path):
    plan = load(tmp_path, BASE.replace("hidden: 16", "lr: 1e-3"))
    assert plan.model.args["lr"] == pytest.approx(0.001)


@pytest.mark.parametrize(
    "class_path, problem, hint",
    [
        ("cfgunit_nowhere.Net", "no module named `cfgunit_nowhere`", "PYTHONPATH"),
        ("cfgunit_models.Nett", "has no attribute `Nett`", "did you mean `Net`"),
        ("cfgunit_broken.Net", "importing `cfgunit_broken` failed: No module named 'cfgunit_no_such_dependency'", None),
        ("cfgunit_raises.Net", "RuntimeError: boom at import", None),
        ("cfgunit_models.not_a_class", "is not a class (it is a int value)", None),
        ("torch.nn.Linear", "not a subclass of stager.train.Module", None),
        ("Net", "unknown class `Net`", "full import path"),
    ],
)
def test_bad_model_class_path(tmp_path, class_path, problem, hint):
    text = BASE.replace("cfgunit_models.Net", class_path)
    error = mistake(tmp_path, text)
    assert (error.line, error.field) == (line_of(text, "class_path: " + class_path), "model.class_path")
    assert problem in error.problem
    if hint:
        assert hint in error.hint


def test_datamodule_must_be_a_datamodule(tmp_path):
    error = mistake(tmp_path, BASE.replace("cfgunit_models.Data", "cfgunit_models.Net"))
    assert error.field == "data.class_path" and "stager.train.DataModule" in error.problem


def test_key_beside_class_path_points_to_init_args(tmp_path):
    text = BASE.replace("  init_args:\n    hidden: 16\n", "  hidden: 16\n")
    error = mistake(tmp_path, text)
    assert (error.line, error.field) == (line_of(text, "hidden"), "model.hidden")
    assert "init_args" in error.hint


def test_missing_model(tmp_path):
    error = mistake(tmp_path, "trainer:\n  max_epochs: 1\n")
    assert error.field == "model" and "no model configured" in error.problem


def test_bad_seed_and_ckpt_path(tmp_path):
    assert mistake(tmp_path, BASE.replace("seed_everything: 7", "seed_everything: -1")).line == 1
    assert mistake(tmp_path, BASE + "ckpt_path: 3\n").field == "ckpt_path"


def test_yaml_syntax_error_is_located(tmp_path):
    error = mistake(tmp_path, BASE + "trainer: [\n")
    assert error.file.endswith("config.yaml") and error.line is not None


# -- callbacks and loggers ------------------------------------------------------


CALLBACKS = BASE.replace(
    "  enable_progress_bar: false\n",
    """\
  enable_progress_bar: false
  callbacks:
    - checkpoint: {monitor: val_loss, save_top_k: 2}
    - early_stopping:
        monitor: val_loss
        patience: 5
    - lr_monitor:
    - class_path: ModelCheckpoint
      init_args: {save_last: true}
    - cfgunit_models.Count
  logger:
    class_path: CSVLogger
    init_args: {save_dir: logs}
""",
)


def test_shorthand_and_short_named_callbacks(tmp_path):
    plan = load(tmp_path, CALLBACKS)
    built = [spec.instantiate(plan.sources) for spec in plan.trainer["callbacks"]]
    assert [type(c) for c in built[:4]] == [ModelCheckpoint, EarlyStopping, LearningRateMonitor, ModelCheckpoint]
    assert built[0].save_top_k == 2 and built[1].patience == 5 and built[3].save_last is True
    assert type(built[4]).__name__ == "Count"
    resolved = plan.to_dict()["trainer"]["callbacks"]
    assert resolved[0] == {"class_path": "stager.train.ModelCheckpoint", "init_args": {"monitor": "val_loss", "save_top_k": 2}}
    assert resolved[2] == {"class_path": "stager.train.LearningRateMonitor"}
    assert plan.to_dict()["trainer"]["logger"]["class_path"] == "stager.train.CSVLogger"


def test_shorthand_mistakes_are_located(tmp_path):
    text = CALLBACKS.replace("early_stopping:", "early_stoping:")
    error = mistake(tmp_path, text)
    assert (error.line, error.field) == (line_of(text, "early_stoping"), "trainer.callbacks.1.early_stoping")
    assert "did you mean `early_stopping`" in error.hint
    text = CALLBACKS.replace("patience: 5", "patients: 5")
    error = mistake(tmp_path, text)
    assert (error.line, error.field) == (line_of(text, "patients"), "trainer.callbacks.1.early_stopping.patients")


def test_callback_and_logger_base_classes_are_enforced(tmp_path):
    error = mistake(tmp_path, CALLBACKS.replace("- cfgunit_models.Count", "- cfgunit_models.Data"))
    assert error.field == "trainer.callbacks.4" and "stager.train.Callback" in error.problem
    error = mistake(tmp_path, CALLBACKS.replace("class_path: CSVLogger", "class_path: EarlyStopping"))
    assert error.field == "trainer.logger.class_path" and "stager.train.Logger" in error.problem


def test_logger_missing_required_argument(tmp_path):
    error = mistake(tmp_path, CALLBACKS.replace("    init_args: {save_dir: logs}\n", ""))
    assert error.field == "trainer.logger.init_args" and "needs argument `save_dir`" in error.problem


# -- print-config -----------------------------------------------------------------


def test_print_config_is_the_resolved_config(tmp_path):
    text = cfg.render(load(tmp_path, CALLBACKS, ("--trainer.max_epochs", "1")))
    resolved = yaml.safe_load(text)
    assert list(resolved) == ["seed_everything", "trainer", "model", "data"]
    # Trainer arguments that were not given stay out; the model's defaults are written.
    assert set(resolved["trainer"]) == {"max_epochs", "enable_progress_bar", "callbacks", "logger"}
    assert resolved["trainer"]["max_epochs"] == 1
    assert resolved["model"] == {
        "class_path": "cfgunit_models.Net",
        "init_args": {"hidden": 16, "lr": 0.1, "act": "relu", "dropout": None},
    }


def test_print_config_builds_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed: list[str] = []
    assert cfg.run("fit", [write(tmp_path, CALLBACKS)], [], print_config=True, echo=printed.append) is None
    assert "class_path: stager.train.ModelCheckpoint" in printed[0]
    assert not (tmp_path / "logs").exists() and not (tmp_path / "lightning_logs").exists()


# -- building ----------------------------------------------------------------------


def test_build_seeds_saves_config_and_sets_resolved_config(tmp_path):
    text = CALLBACKS.replace("save_dir: logs", f"save_dir: {tmp_path / 'logs'}")
    built = cfg.build(load(tmp_path, text))
    assert isinstance(built.trainer, Trainer)
    assert built.trainer.resolved_config["seed_everything"] == 7
    assert built.config_path == Path(built.trainer.log_dir) / "config.yaml"
    saved = yaml.safe_load(built.config_path.read_text())
    assert saved == built.trainer.resolved_config
    assert built.model.hparams.hidden == 16 and built.datamodule.batch_size == 4
    # The saved config is itself a valid config that resolves to the same thing.
    again = cfg.load([built.config_path], [])
    assert again.to_dict() == saved


def test_seed_true_records_the_drawn_seed(tmp_path):
    text = BASE.replace("seed_everything: 7", "seed_everything: true") + "  init_args: {}\n"
    text = text.replace("  max_epochs: 3\n", f"  max_epochs: 3\n  default_root_dir: {tmp_path}\n  logger: false\n")
    built = cfg.build(load(tmp_path, text))
    seed = built.config["seed_everything"]
    assert isinstance(seed, int) and not isinstance(seed, bool)
    assert built.config_path == tmp_path / "config.yaml"


def test_construction_errors_are_located(tmp_path):
    text = BASE.replace("hidden: 16", "hidden: 1000")
    text = text.replace("cfgunit_models.Net", "cfgunit_models.Picky").replace("  max_epochs: 3\n", "  logger: false\n")
    with pytest.raises(ConfigError, match="Picky refused its arguments: hidden must be at most 100") as info:
        cfg.build(load(tmp_path, text))
    assert info.value.field == "model"
    text = BASE.replace("max_epochs: 3", "gradient_clip_algorithm: sideways\n  logger: false")
    with pytest.raises(ConfigError, match="Trainer refused its arguments") as info:
        cfg.build(load(tmp_path, text))
    assert (info.value.field, info.value.line) == ("trainer.gradient_clip_algorithm", 3)


# -- optimizer and lr_scheduler sections ---------------------------------------------


OPTIM = BASE.replace("  max_epochs: 3\n", "  max_epochs: 3\n  logger: false\n") + """\
optimizer:
  class_path: AdamW
  init_args: {lr: 2.0e-3, weight_decay: 0.1}
lr_scheduler:
  class_path: ReduceLROnPlateau
  init_args: {monitor: train_loss, patience: 2}
"""


def test_optimizer_sections_replace_configure_optimizers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    built = cfg.build(load(tmp_path, OPTIM))
    result = built.model.configure_optimizers()
    assert isinstance(result["optimizer"], torch.optim.AdamW)
    assert result["optimizer"].param_groups[0]["lr"] == pytest.approx(2e-3)
    assert result["lr_scheduler"]["monitor"] == "train_loss"
    pickle.loads(pickle.dumps(built.model))  # the spawn launcher pickles the model


def test_optimizer_section_mistakes(tmp_path):
    error = mistake(tmp_path, OPTIM.replace("weight_decay", "wd"))
    assert error.field == "optimizer.init_args.wd" and error.line == line_of(OPTIM, "weight_decay")
    error = mistake(tmp_path, OPTIM.replace("class_path: ReduceLROnPlateau", "class_path: torch.optim.lr_scheduler.ReduceLROnPlateau"))
    assert error.field == "lr_scheduler.class_path" and "monitor" in error.hint
    without_optimizer = OPTIM.replace("optimizer:\n  class_path: AdamW\n  init_args: {lr: 2.0e-3, weight_decay: 0.1}\n", "")
    assert "needs an optimizer" in mistake(tmp_path, without_optimizer).problem
    error = mistake(tmp_path, OPTIM.replace("AdamW", "cfgunit_models.Net"))
    assert error.field == "optimizer.class_path" and "torch.optim.Optimizer" in error.problem


def test_init_args_shortcut_under_a_class_path_string(tmp_path):
    text = BASE.replace("  max_epochs: 3\n", "  max_epochs: 3\n  logger: CSVLogger\n")
    plan = load(tmp_path, text, ("--trainer.logger.save_dir", "somewhere"))
    assert plan.to_dict()["trainer"]["logger"] == {
        "class_path": "stager.train.CSVLogger",
        "init_args": {"save_dir": "somewhere"},
    }
