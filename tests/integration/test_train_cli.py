"""`stager train fit|validate|test|predict` run as real subprocesses on a tiny model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

MODELS = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from stager.train import Callback, DataModule, Module


class Announced(Callback):
    """Appends each announced checkpoint (name and step) to a file, as a push would send it."""

    def __init__(self, record: str = "announced.txt"):
        self.record = record

    def on_checkpoint_saved(self, trainer, pl_module, path):
        with open(self.record, "a") as f:
            f.write(f"{path.rsplit('/', 1)[-1]} {path.global_step}\\n")


class Regressor(Module):
    def __init__(self, hidden: int = 8, lr: float = 0.05, nan_after: int | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)

    def _loss(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        if self.hparams.nan_after is not None and self.global_step >= self.hparams.nan_after:
            loss = loss * float("nan")
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class Sums(DataModule):
    def __init__(self, n: int = 32, batch_size: int = 8):
        super().__init__()
        self.n, self.batch_size = n, batch_size

    def setup(self, stage):
        x = torch.randn(self.n, 4, generator=torch.Generator().manual_seed(0))
        self.data = TensorDataset(x, x.sum(dim=1, keepdim=True))

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.data, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.data, batch_size=self.batch_size)

    def predict_dataloader(self):
        return DataLoader(self.data, batch_size=self.batch_size)
'''

CONFIG = """\
seed_everything: 3
trainer:
  max_epochs: 2
  enable_progress_bar: false
  callbacks:
    - checkpoint: {monitor: val_loss, save_last: true}
  logger:
    class_path: CSVLogger
    init_args: {save_dir: logs}
model:
  class_path: clitiny_models.Regressor
  init_args:
    hidden: 4
data:
  class_path: clitiny_models.Sums
"""


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "clitiny_models.py").write_text(MODELS)
    (tmp_path / "config.yaml").write_text(CONFIG)
    return tmp_path


def stager(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    script = shutil.which("stager", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-c", "from stager.cli.main import main; main()"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(workdir), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [*command, "train", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=240
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_fit_saves_the_resolved_config_in_the_log_dir(workdir):
    result = stager(workdir, "fit", "--config", "config.yaml", "--trainer.max_epochs", "1")
    assert result.returncode == 0, result.stderr
    log_dir = workdir / "logs" / "lightning_logs" / "version_0"
    saved = yaml.safe_load((log_dir / "config.yaml").read_text())
    assert saved["trainer"]["max_epochs"] == 1
    assert saved["seed_everything"] == 3
    assert saved["model"] == {
        "class_path": "clitiny_models.Regressor",
        "init_args": {"hidden": 4, "lr": 0.05, "nan_after": None},
    }
    checkpoints = sorted(p.name for p in (log_dir / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints
    # max_epochs 1 over 4 batches: the best checkpoint is from epoch 0
    assert any(name.startswith("epoch=0-step=4") for name in checkpoints), checkpoints
    checkpoint = torch.load(log_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["config"]["trainer"]["max_epochs"] == 1


def test_print_config_prints_and_runs_nothing(workdir):
    result = stager(workdir, "fit", "--config", "config.yaml", "--print-config", "--model.hidden", "16")
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["model"]["init_args"]["hidden"] == 16
    assert printed["trainer"]["callbacks"] == [
        {"class_path": "stager.train.ModelCheckpoint", "init_args": {"monitor": "val_loss", "save_last": True}}
    ]
    assert "default_root_dir" not in printed["trainer"]  # defaults of Trainer arguments stay out
    assert not (workdir / "logs").exists()


def test_resume_validate_test_and_predict(workdir):
    assert stager(workdir, "fit", "-c", "config.yaml").returncode == 0
    last = "logs/lightning_logs/version_0/checkpoints/last.ckpt"
    for subcommand in ("validate", "test"):
        result = stager(workdir, subcommand, "-c", "config.yaml", "--ckpt_path", last)
        assert result.returncode == 0, result.stderr
    result = stager(workdir, "predict", "-c", "config.yaml", f"--ckpt_path={last}")
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_absolute() and path.name == "predictions.pt" and (path.parent / "config.yaml").exists()
    predictions = torch.load(path, weights_only=False)
    assert len(predictions) == 4 and predictions[0].shape == (8, 1)


MISTAKES = [
    (("max_epochs: 2", "max_epoch: 2"), (), "config.yaml:3: `trainer.max_epoch`: Trainer has no argument"),
    (("max_epochs: 2", "max_epochs: two"), (), "config.yaml:3: `trainer.max_epochs`: expected an integer"),
    (("hidden: 4", "hiden: 4"), (), "config.yaml:13: `model.init_args.hiden`: Regressor has no argument"),
    (("clitiny_models.Sums", "clitiny_models.Sum"), (),
     "config.yaml:15: `data.class_path`: module `clitiny_models` has no attribute `Sum`"),
    (("clitiny_models.Regressor", "clitiny_modelz.Regressor"), (), "no module named `clitiny_modelz`"),
    (("checkpoint:", "chekpoint:"), (), "did you mean `checkpoint`?"),
    (None, ("--trainer.max_epochs", "ten"), "given on the command line as `--trainer.max_epochs ten`"),
    (None, ("--model.width", "3"), "`model.init_args.width`: Regressor has no argument `width`"),
    (None, ("--trainer.max_epochs",), "has no value"),
    (None, ("--optimizer.class_path", "NoSuchOptim"), "unknown class `NoSuchOptim`"),
]

# Each mistake, the missing config file and the option without its value is one `stager train fit` that stops
# before training. The tests get them from one Python process (_SHARED_PROCESS) that calls stager's own entry
# point, stager.cli.main.main, once per case, in the case's own folder, with the process's file descriptors 1
# and 2 sent to the case's own files (code.txt, stdout.txt, stderr.txt there): each case's exit code and
# complete stdout and stderr, as a process of its own shows them, without starting Python, torch and
# Lightning once per case.
_SHARED_PROCESS = """
import json, os, sys, traceback
from stager.cli.main import main

for folder, args in json.loads(sys.argv[1]):
    os.chdir(folder)
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open("stdout.txt", "wb") as out, open("stderr.txt", "wb") as err:
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            main(["train", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
    with open("code.txt", "w") as f:
        f.write(str(code))
"""


def stager_in_one_process(cases: dict) -> dict[object, subprocess.CompletedProcess]:
    """``stager train ARGS`` in each case's folder (``cases``: key -> (folder, args)), all in one Python process."""
    for folder, _ in cases.values():
        (folder / "clitiny_models.py").write_text(MODELS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*(str(f) for f, _ in cases.values()),
                                                       os.environ.get("PYTHONPATH", "")]))
    plan = json.dumps([[str(folder), list(args)] for folder, args in cases.values()])
    ran = subprocess.run([sys.executable, "-c", _SHARED_PROCESS, plan], env=env, capture_output=True, text=True,
                         timeout=240)
    assert ran.returncode == 0 and not ran.stdout and not ran.stderr, (ran.stdout, ran.stderr)
    return {key: subprocess.CompletedProcess(args, int((folder / "code.txt").read_text()),
                                             (folder / "stdout.txt").read_text(), (folder / "stderr.txt").read_text())
            for key, (folder, args) in cases.items()}


@pytest.fixture(scope="module")
def fit_mistakes(tmp_path_factory) -> dict:
    """The result of each mistake's ``stager train fit`` (and its folder), from one shared process."""
    cases = {}
    for index, (edit, args, _) in enumerate(MISTAKES):
        folder = tmp_path_factory.mktemp(f"mistake{index}")
        (folder / "config.yaml").write_text(CONFIG.replace(*edit) if edit else CONFIG)
        cases[index] = (folder, ("fit", "--config", "config.yaml", *args))
    folder = tmp_path_factory.mktemp("missing-config")
    cases["missing"] = (folder, ("fit", "--config", "nowhere.yaml"))
    folder = tmp_path_factory.mktemp("config-without-value")
    (folder / "config.yaml").write_text(CONFIG)
    cases["no-value"] = (folder, ("fit", "--config"))
    results = stager_in_one_process(cases)
    return {key: (results[key], folder) for key, (folder, _) in cases.items()}


@pytest.mark.parametrize("edit, args, expected", MISTAKES)
def test_mistakes_exit_2_with_one_line(fit_mistakes, edit, args, expected):
    result, workdir = fit_mistakes[MISTAKES.index((edit, args, expected))]
    assert result.returncode == 2
    assert expected in one_line_error(result)
    assert not (workdir / "logs").exists()


def test_missing_config_file_exits_2(fit_mistakes):
    result, _ = fit_mistakes["missing"]
    assert result.returncode == 2
    assert "nowhere.yaml: file not found" in one_line_error(result)


def test_non_finite_loss_exits_1_with_one_line(workdir):
    result = stager(workdir, "fit", "-c", "config.yaml", "--model.nan_after", "2")
    assert result.returncode == 1
    assert "NaN or Inf" in one_line_error(result)


def test_failure_in_user_code_exits_1_with_one_line(workdir):
    result = stager(workdir, "fit", "-c", "config.yaml", "--data.batch_size", "0")
    assert result.returncode == 1
    assert "ValueError" in one_line_error(result)


def test_option_without_its_value_exits_2(fit_mistakes):
    result, _ = fit_mistakes["no-value"]
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--config" in result.stderr


def test_sigterm_ends_fit_with_every_durable_checkpoint_announced(workdir):
    """A stopped run (SIGTERM from its controller, a SLURM preemption) keeps and announces its checkpoints."""
    import signal
    import time

    script = shutil.which("stager", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-c", "from stager.cli.main import main; main()"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(workdir), os.environ.get("PYTHONPATH", "")]))
    config = yaml.safe_load(CONFIG)
    config["trainer"]["max_epochs"] = 100000
    config["trainer"]["callbacks"].append({"class_path": "clitiny_models.Announced"})
    (workdir / "forever.yaml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen([*command, "train", "fit", "-c", "forever.yaml"], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    record = workdir / "announced.txt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(record.read_text().splitlines() if record.exists() else []) < 6:
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("error: train fit interrupted (signal SIGTERM)"), err
    folder = next(workdir.glob("logs/**/checkpoints"))
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    last_step = torch.load(folder / "last.ckpt", weights_only=False)["global_step"]
    announced = record.read_text().splitlines()
    assert f"last.ckpt {last_step}" in announced  # the newest durable checkpoint was announced before the exit
