"""CheckpointPush against the emulator's S3: each checkpoint pushed whole with its sha256, and an index."""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stager.errors import UsageError
from stager.run.push import INDEX_NAME, BadIndex, CheckpointPush, read_index
from stager.run.report import parse_report
from stager.storage.s3 import S3Settings, make_client
from stager.train import ModelCheckpoint, Module, Trainer
from stager.train.checkpoint import load_checkpoint

BUCKET = "run-outputs"
PREFIX = "runs/r-test/checkpoints"
KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

MODEL = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from stager.train import DataModule, Module


class Tiny(Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class Sums(DataModule):
    def setup(self, stage):
        x = torch.randn(24, 3, generator=torch.Generator().manual_seed(0))
        self.data = TensorDataset(x, x.sum(dim=1, keepdim=True))

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=8)
'''


class Tiny(Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _loader() -> DataLoader:
    x = torch.randn(24, 3, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=8)  # 3 steps per epoch


@pytest.fixture
def s3_key(emulator):
    return emulator.client().object_storage.keys_create("push-tests")


@pytest.fixture
def client(emulator, s3_key):
    emulator.client().object_storage.bucket_create("us-east", BUCKET)
    return make_client(S3Settings(emulator.s3_endpoint, "us-east-1", s3_key.access_key, s3_key.secret_key))


@pytest.fixture
def instance_home(tmp_path, s3_key, monkeypatch) -> Path:
    """Keys as the engine leaves them on the instance: $STAGER_HOME/credentials.yaml (0600), none in the environment."""
    home = tmp_path / ".stager"
    home.mkdir()
    path = home / "credentials.yaml"
    path.write_text(yaml.safe_dump({"object_storage": {"access_key": s3_key.access_key,
                                                       "secret_key": s3_key.secret_key}}))
    path.chmod(0o600)
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAGER_HOME", str(home))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return home


def _fit(tmp_path: Path, push: CheckpointPush, max_epochs: int = 3) -> ModelCheckpoint:
    checkpoint = ModelCheckpoint(dirpath=str(tmp_path / "ck"), save_top_k=1, save_last=True, every_n_epochs=1)
    trainer = Trainer(accelerator="cpu", default_root_dir=str(tmp_path), logger=False, enable_progress_bar=False,
                      max_epochs=max_epochs, log_every_n_steps=1, callbacks=[checkpoint, push])
    trainer.fit(Tiny(), _loader())
    return checkpoint


def _object(client, key: str) -> tuple[bytes, dict]:
    response = client.get_object(Bucket=BUCKET, Key=key)
    return response["Body"].read(), response["Metadata"]


def test_every_checkpoint_is_pushed_with_its_sha256_and_indexed(tmp_path, emulator, client, s3_key, instance_home,
                                                                 capsys):
    push = CheckpointPush(endpoint_url=emulator.s3_endpoint, bucket=BUCKET, prefix=PREFIX + "/")
    # the keys are nowhere in the callback: not its arguments, repr or pickled form
    assert list(inspect.signature(CheckpointPush).parameters) == ["endpoint_url", "bucket", "prefix"]
    checkpoint = _fit(tmp_path, push)
    for secret in (s3_key.secret_key, s3_key.access_key):
        assert secret not in repr(push) and secret.encode() not in pickle.dumps(push)
        assert secret not in json.dumps(load_checkpoint(checkpoint.last_model_path).get("callbacks"), default=str)

    out = capsys.readouterr().out
    pushed = [r for r in map(parse_report, out.splitlines()) if r and r["event"] == "checkpoint_pushed"]
    # save order: each epoch's top-1 file, then last.ckpt; the earlier top-1 files were deleted locally
    assert [r["key"].rsplit("/", 1)[1] for r in pushed] == [
        "epoch=0-step=3.ckpt", "last.ckpt", "epoch=1-step=6.ckpt", "last.ckpt", "epoch=2-step=9.ckpt", "last.ckpt"]
    assert sorted(os.listdir(tmp_path / "ck")) == ["epoch=2-step=9.ckpt", "last.ckpt"]  # no staging left behind

    listed = sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"])
    names = ["epoch=0-step=3.ckpt", "epoch=1-step=6.ckpt", "epoch=2-step=9.ckpt", INDEX_NAME, "last.ckpt"]
    assert listed == [f"{PREFIX}/{n}" for n in names]
    for name, step in [("epoch=0-step=3.ckpt", 3), ("epoch=1-step=6.ckpt", 6), ("last.ckpt", 9)]:
        body, metadata = _object(client, f"{PREFIX}/{name}")
        assert metadata["sha256"] == hashlib.sha256(body).hexdigest()
        # deleted or replaced locally after the save: still pushed whole, as it was then
        assert torch.load(io.BytesIO(body), weights_only=False)["global_step"] == step
    last_body, _ = _object(client, f"{PREFIX}/last.ckpt")
    assert last_body == (tmp_path / "ck" / "last.ckpt").read_bytes()
    assert pushed[-1]["sha256"] == hashlib.sha256(last_body).hexdigest() and pushed[-1]["size"] == len(last_body)

    index = read_index(client, BUCKET, PREFIX)
    assert index["last"] == "last.ckpt"
    assert index["checkpoints"]["last.ckpt"] == {"key": f"{PREFIX}/last.ckpt", "size": len(last_body),
                                                  "sha256": hashlib.sha256(last_body).hexdigest(),
                                                  "step": 9, "epoch": 2}
    assert sorted(index["checkpoints"]) == sorted(names[:3] + ["last.ckpt"])
    assert index["checkpoints"]["epoch=0-step=3.ckpt"]["step"] == 3


def test_a_second_attempt_adds_to_the_index(tmp_path, emulator, client, instance_home):
    earlier = {"version": 1, "last": "old.ckpt", "checkpoints": {"old.ckpt": {"key": f"{PREFIX}/old.ckpt", "size": 1,
                                                                             "sha256": "0" * 64, "step": 1,
                                                                             "epoch": 0}}}
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{INDEX_NAME}", Body=json.dumps(earlier).encode())
    _fit(tmp_path, CheckpointPush(emulator.s3_endpoint, BUCKET, PREFIX), max_epochs=1)
    index = read_index(client, BUCKET, PREFIX)
    assert index["last"] == "last.ckpt"
    assert sorted(index["checkpoints"]) == ["epoch=0-step=3.ckpt", "last.ckpt", "old.ckpt"]


def test_read_index_absent_and_damaged(client):
    assert read_index(client, BUCKET, "runs/none/checkpoints") is None
    client.put_object(Bucket=BUCKET, Key=f"bad/{INDEX_NAME}", Body=b"{not json")
    with pytest.raises(BadIndex, match="not valid JSON"):
        read_index(client, BUCKET, "bad")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failing_endpoint_warns_and_training_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPUSHTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-push-test-value")
    push = CheckpointPush(f"http://127.0.0.1:{_closed_port()}", BUCKET, PREFIX)
    push.backoff_s, push.client_retries = 0.01, 0  # keep the three tries quick
    checkpoint = _fit(tmp_path, push, max_epochs=2)
    assert Path(checkpoint.last_model_path).is_file()  # training finished
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("stager: warning:")]
    assert len(warnings) == 4  # two saves per epoch
    assert all(line.startswith("stager: warning: pushing checkpoint ") and "cannot reach" in line
               and "after 3 tries" in line for line in warnings)
    assert "secret-push-test-value" not in captured.err + captured.out
    records = [r for r in map(parse_report, captured.out.splitlines()) if r]
    assert [r["event"] for r in records] == ["checkpoint_push_failed"] * 4
    assert sorted(os.listdir(tmp_path / "ck")) == ["epoch=1-step=6.ckpt", "last.ckpt"]


def test_no_keys_fails_before_training(tmp_path, monkeypatch):
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAGER_HOME", str(tmp_path / "empty-home"))
    with pytest.raises(UsageError, match="no Object Storage keys"):
        _fit(tmp_path, CheckpointPush("http://127.0.0.1:9", BUCKET, PREFIX))
    assert not (tmp_path / "ck").exists()


def test_the_engine_config_form_on_an_instance(tmp_path, emulator, client, s3_key, instance_home):
    """``python -m stager train fit --config train.yaml`` in the run's folder, as the engine starts it."""
    (tmp_path / "pushtiny_models.py").write_text(MODEL)
    config = {
        "trainer": {"max_epochs": 2, "enable_progress_bar": False, "default_root_dir": "out", "logger": False,
                    "callbacks": [
                        {"checkpoint": {"save_last": True}},
                        {"class_path": "stager.run.push.CheckpointPush",
                         "init_args": {"endpoint_url": emulator.s3_endpoint, "bucket": BUCKET, "prefix": PREFIX}},
                        {"class_path": "stager.run.report.MetricsReport"}]},
        "model": {"class_path": "pushtiny_models.Tiny"},
        "data": {"class_path": "pushtiny_models.Sums"},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.update(STAGER_HOME=".stager", AWS_REGION="us-east-1", PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "stager", "train", "fit", "--config", "train.yaml"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    records = [r for r in map(parse_report, result.stdout.splitlines()) if r]
    events = [r["event"] for r in records]
    assert events[0] == "start" and events[-1] == "end" and "checkpoint_pushed" in events
    index = read_index(client, BUCKET, PREFIX)
    assert index["last"] == "last.ckpt" and index["checkpoints"]["last.ckpt"]["step"] == 6
    local = next((tmp_path / "out").rglob("last.ckpt"))
    body, metadata = _object(client, f"{PREFIX}/last.ckpt")
    assert body == local.read_bytes() and metadata["sha256"] == hashlib.sha256(body).hexdigest()
    for secret in (s3_key.secret_key, s3_key.access_key):
        assert secret not in result.stdout + result.stderr
        assert secret not in json.dumps(load_checkpoint(local)["config"], default=str)


def test_a_try_that_fails_is_tried_again_with_backoff(capsys):
    push = CheckpointPush("http://127.0.0.1:9", BUCKET, PREFIX)
    push.backoff_s = 0.01
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset by peer")

    assert push._attempt(flaky, action="pushing checkpoint x.ckpt", where="s3://b/x", key="x")
    assert len(calls) == 3 and capsys.readouterr().err == ""
    calls.clear()

    def broken():
        calls.append(1)
        raise ConnectionResetError("reset by peer")

    assert not push._attempt(broken, action="pushing checkpoint x.ckpt", where="s3://b/x", key="x")
    captured = capsys.readouterr()
    assert len(calls) == 3 and captured.err.count("\n") == 1
    assert "pushing checkpoint x.ckpt failed: ConnectionResetError: reset by peer" in captured.err
    assert parse_report(captured.out)["event"] == "checkpoint_push_failed"
