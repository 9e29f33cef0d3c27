"""`stager run` on two nodes of the local target: real emulator, SSH, torchrun, gloo over loopback."""

from __future__ import annotations

from pathlib import Path

import torch
from run_world import kill_node_one_torchrun, run_json

BATCH = 32  # per node: the global batch is 64
BATCHES = 6  # per node and epoch
EPOCHS_UNTIL_KILLED = 12  # long enough for node 1 to be killed after the first checkpoint, short to resume


def _two_node_pipeline(world, folder: Path, *, epochs: int, batches: int) -> Path:
    path = world.pipeline(folder, epochs=epochs, batches=batches)
    import yaml

    doc = yaml.safe_load(path.read_text())
    doc["compute"]["nodes"] = 2
    doc["train"]["model"]["init_args"].update(dropout=0.0)  # dropout draws differ per rank
    doc["train"]["data"]["init_args"]["batch_size"] = BATCH
    doc["train"]["trainer"]["strategy"] = "ddp"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _single_process_weights(data: Path) -> dict[str, torch.Tensor]:
    """The same seed, model and data in one process, on the global batch, in DistributedSampler's order."""
    from torch.utils.data import DataLoader

    from stager.examples.mnist import MLP, MNISTDataModule
    from stager.train import Trainer, seed_everything

    seed_everything(0, workers=True)
    model = MLP(hidden=32, dropout=0.0)
    datamodule = MNISTDataModule(data_dir=str(data), batch_size=2 * BATCH, generate=False)
    datamodule.setup("fit")
    generator = torch.Generator()
    generator.manual_seed(0)  # DistributedSampler's seed (the run's seed) + epoch 0
    order = torch.randperm(len(datamodule.train_set), generator=generator).tolist()
    loader = DataLoader(datamodule.train_set, batch_size=2 * BATCH, sampler=order)
    trainer = Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=BATCHES, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, num_sanity_val_steps=0,
                      limit_val_batches=0)
    trainer.fit(model, loader)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_two_nodes_train_as_one_process_and_leave_nothing(run_world, tmp_path):
    pipeline = _two_node_pipeline(run_world, tmp_path, epochs=1, batches=BATCHES)
    done = run_world.run(tmp_path, str(pipeline), "--yes", timeout=150)
    assert done.returncode == 0, done.stderr[-4000:]
    status = run_json(tmp_path)
    assert status["state"] == "succeeded" and status["resources"] == []
    assert run_world.live_instances() == []
    with run_world.ledger() as ledger:
        record = ledger.run(status["run_id"])
        instances = [r for r in record.resources if r.kind == "instance"]
        assert len(instances) == 2 and len({r.provider_id for r in instances}) == 2
        assert ledger.live_resources(status["run_id"]) == []
    folder = tmp_path / "runs" / status["run_id"]
    log = (folder / "logs" / "train.log").read_text()
    assert "[node 0] " in log and "[node 1] " in log
    assert (folder / "metrics.jsonl").read_text().strip()  # node 0's reports
    from stager.examples.mnist import MLP

    trained = MLP.load_from_checkpoint(folder / "checkpoints" / "last.ckpt").state_dict()
    for name, tensor in _single_process_weights(run_world.data).items():
        torch.testing.assert_close(trained[name], tensor, rtol=1e-4, atol=1e-5)


def test_a_dead_node_stops_every_node_and_tears_all_down(run_world, tmp_path):
    pipeline = _two_node_pipeline(run_world, tmp_path, epochs=EPOCHS_UNTIL_KILLED, batches=BATCHES)
    process = run_world.start(tmp_path, str(pipeline), "--yes")
    checkpoint = run_world.wait_for_event("train.checkpoint", timeout=120, process=process)
    kill_node_one_torchrun(checkpoint["run_id"])
    out, err = process.communicate(timeout=120)
    assert process.returncode != 0
    status = run_json(tmp_path)
    assert status["state"] == "failed" and status["resources"] == []
    assert "node 1 (instance" in status["reason"] and "--resume" in status["reason"]
    assert [line for line in err.splitlines() if "node 1 (instance" in line and "exited with" in line]
    assert run_world.live_instances() == []
    assert list((tmp_path / "runs" / status["run_id"] / "checkpoints").glob("*.ckpt"))  # the last one kept
    # --resume: two fresh nodes, each from the last checkpoint, train to the end
    resumed = run_world.run(tmp_path, str(pipeline), "--resume", status["run_id"], "--yes", timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    after = run_json(tmp_path)
    assert after["state"] == "succeeded" and after["resources"] == [] and run_world.live_instances() == []
    starts = [r for r in _metrics(tmp_path, status["run_id"]) if r["event"] == "start"]
    assert len(starts) == 2 and starts[1]["global_step"] > 0  # the second attempt began from the checkpoint
    assert _metrics(tmp_path, status["run_id"])[-1]["step"] == EPOCHS_UNTIL_KILLED * BATCHES
    with run_world.ledger() as ledger:
        nodes = [r for r in ledger.run(status["run_id"]).resources if r.kind == "instance"]
    assert len(nodes) == 4 and not [r for r in nodes if r.live]  # two nodes per attempt, all deleted


def _metrics(folder: Path, run_id: str) -> list[dict]:
    import json

    return [json.loads(line) for line in (folder / "runs" / run_id / "metrics.jsonl").read_text().splitlines()]
