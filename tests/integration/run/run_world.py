"""The world `stager run` tests run in: one emulator serving a STAGER_HOME, a dataset, pipelines, leak checks.

The runs are real `stager run` subprocesses. They find the emulator through the
state directory (``$STAGER_HOME/emulator``), as `stager run` finds a served one,
so a test can inject faults into the emulator while a run is going on. The gold
image is built by the first run of the session and reused by the others.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


@dataclass
class RunWorld:
    home: Path
    emulator: object
    data: Path  # a synthetic MNIST dataset, made once
    argument_leaks: list[str] = field(default_factory=list)  # command lines seen holding a secret

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LINODE_", "STAGER_"))}
        env.update(STAGER_HOME=str(self.home), PYTHONUNBUFFERED="1", **extra)
        return env

    def pipeline(self, folder: Path, *, epochs: int = 2, batches: int | None = None, budget: dict | None = None,
                 **top) -> Path:
        """A small MNIST pipeline in ``folder``; ``batches`` limits the train batches per epoch."""
        trainer = {"accelerator": "cpu", "devices": 1, "max_epochs": epochs, "log_every_n_steps": 5,
                   "callbacks": [{"checkpoint": {"monitor": "val_loss", "mode": "min", "save_top_k": 1,
                                                 "save_last": True}}]}
        if batches is not None:
            trainer["limit_train_batches"] = batches
        doc = {
            "name": "mnist-test", "target": "local", "image": str(REPO / "images" / "cpu.yaml"),
            "data": {"mnist": {"path": str(self.data), "validate": {"labels": {"min": 0, "max": 9}}}},
            "storage": {"bucket": "stager-data", "prefix": "datasets", "via": "object-storage"},
            "compute": {"type": "g1-gpu-rtx6000-1", "region": "us-east", "nodes": 1},
            "train": {"seed_everything": 0, "trainer": trainer,
                      "model": {"class_path": "stager.examples.mnist.MLP", "init_args": {"hidden": 32}},
                      "data": {"class_path": "stager.examples.mnist.MNISTDataModule",
                               "init_args": {"data_dir": str(self.data), "batch_size": 64, "generate": False}}},
            "budget": budget or {"max_usd": 5, "max_hours": 2, "expected_hours": 0.25},
        }
        doc.update(top)
        path = folder / "pipeline.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def start(self, folder: Path, *args: str, command: tuple[str, ...] = ("run",), **env: str) -> subprocess.Popen:
        """``stager <command> ARGS --runs-dir folder/runs`` in ``folder`` (``command`` e.g. ("sprint", "run"))."""
        process = subprocess.Popen([sys.executable, "-m", "stager", *command, *args, "--runs-dir",
                                    str(folder / "runs")], cwd=folder, env=self.env(**env), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        threading.Thread(target=self._watch_arguments, args=(process,), daemon=True).start()
        return process

    def _watch_arguments(self, process: subprocess.Popen) -> None:
        """While the run lives, look at every process's arguments for a secret, five times a second."""
        while process.poll() is None:
            self.argument_leaks.extend(process_arguments_with_secrets(self))
            time.sleep(0.2)

    def run(self, folder: Path, *args: str, timeout: float = 240, command: tuple[str, ...] = ("run",),
            **env: str) -> subprocess.CompletedProcess:
        return finish(self.start(folder, *args, command=command, **env), timeout)

    def ledger(self):
        from stager.ledger import Ledger

        return Ledger.open(self.home / "ledger.sqlite")

    def live_instances(self) -> list[str]:
        self.emulator.settle()
        return [i.label for i in self.emulator.backend.instances.list_instances()]

    def secrets(self) -> list[str]:
        """The API token and every Object Storage secret the emulator handed out."""
        return [self.emulator.token, *self.emulator.backend.object_storage.issued_secrets]

    def wait_for_event(self, kind: str, *, timeout: float = 120, process: subprocess.Popen | None = None) -> dict:
        """The newest event of ``kind`` of any run, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.ledger() as ledger:
                for run in ledger.runs():
                    record = ledger.run(run.id)
                    found = [e for e in record.events if e.kind == kind]
                    if found and record.state not in ("succeeded", "failed", "aborted"):
                        return {"run_id": run.id, **found[-1].data}
            if process is not None and process.poll() is not None:
                pytest.fail(f"the run ended before {kind}: {process.stderr.read()[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"no {kind} event within {timeout} s")


def make_dataset(folder: Path) -> None:
    from stager.examples.mnist import MNISTDataModule

    MNISTDataModule(data_dir=str(folder), generate=True).prepare_data()


def find_secrets(world: RunWorld, roots: list[Path]) -> list[str]:
    """Files under ``roots`` holding a secret (the emulator's own state and the controller's key cache aside)."""
    secrets = [s.encode() for s in world.secrets() if s]
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            rel = path.relative_to(root).parts
            if rel[:1] == ("emulator",) or path.name == "local-object-storage-key.json":
                continue
            data = path.read_bytes()
            if any(s in data for s in secrets):
                found.append(f"a secret is in {path}")
    return found


def process_arguments_with_secrets(world: RunWorld) -> list[str]:
    """Command lines of this machine's processes that hold a secret."""
    secrets = [s.encode() for s in world.secrets() if s]
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if any(s in cmdline for s in secrets):
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:200])
    return found


def run_json(folder: Path) -> dict:
    runs = sorted((folder / "runs").iterdir())
    return json.loads((runs[-1] / "run.json").read_text())


def kill_node_one_torchrun(run_id: str, timeout: float = 60) -> None:
    """SIGKILL the torchrun of node 1 (not hosting the rendezvous) of run ``run_id``, on this machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"torch.distributed.run" in args and run_id.encode() in args and b"is_host=false" in args:
                os.kill(int(proc.name), signal.SIGKILL)
                return
        time.sleep(0.2)
    raise AssertionError(f"node 1's torchrun of {run_id} was not found")


def finish(process: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    """Wait for a ``stager`` subprocess (started in a session of its own); kill its group and fail past ``timeout``."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"stager took over {timeout} s; stderr:\n{err[-3000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
