"""Checkpoints resume exactly: the same weights, bit for bit, as training straight through."""

from __future__ import annotations

import os

import torch
from tiny_models import RegressionData, Regressor, weights

from stager.train import ModelCheckpoint, Trainer, seed_everything
from stager.train.checkpoint import load_checkpoint


def _fit(root, max_epochs=None, max_steps=-1, ckpt_path=None, callbacks=None):
    seed_everything(7)
    model = Regressor()
    trainer = Trainer(
        max_epochs=max_epochs,
        max_steps=max_steps,
        accelerator="cpu",
        deterministic=True,
        default_root_dir=str(root),
        enable_progress_bar=False,
        logger=False,
        callbacks=callbacks or [ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True, monitor="val_loss")],
    )
    trainer.fit(model, datamodule=RegressionData(), ckpt_path=ckpt_path)
    return model, trainer


def test_four_epochs_equal_two_plus_two_bit_for_bit(tmp_path):
    straight, t_straight = _fit(tmp_path / "straight", max_epochs=4)
    first, t_first = _fit(tmp_path / "split", max_epochs=2)
    assert t_first.current_epoch == 2
    resumed, t_resumed = _fit(tmp_path / "split", max_epochs=4, ckpt_path="last")
    assert t_resumed.global_step == t_straight.global_step == 4 * 16
    for name, tensor in weights(straight).items():
        assert torch.equal(tensor, weights(resumed)[name]), name
    # and the two-epoch model really differs from the four-epoch one
    assert not torch.equal(weights(first)["net.0.weight"], weights(straight)["net.0.weight"])


def test_resume_from_the_middle_of_an_epoch_is_exact(tmp_path):
    straight, _ = _fit(tmp_path / "straight", max_epochs=2)
    every = [ModelCheckpoint(dirpath=str(tmp_path / "mid"), every_n_train_steps=5, save_top_k=-1)]
    _fit(tmp_path / "mid-run", max_steps=21, callbacks=every)
    mid = tmp_path / "mid" / "epoch=1-step=20.ckpt"
    assert mid.exists(), sorted(os.listdir(tmp_path / "mid"))
    position = load_checkpoint(mid)["loops"]
    assert position["epoch_finished"] is False and position["batches_done"] == 4
    resumed, trainer = _fit(tmp_path / "resumed", max_epochs=2, ckpt_path=str(mid))
    assert trainer.global_step == 32
    for name, tensor in weights(straight).items():
        assert torch.equal(tensor, weights(resumed)[name]), name


def test_checkpoint_is_self_describing(tmp_path):
    _, trainer = _fit(tmp_path, max_epochs=1)
    trainer.resolved_config = {"model": {"class_path": "tiny_models.Regressor"}}
    path = tmp_path / "manual.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = load_checkpoint(path)
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "precision_plugin", "epoch", "global_step",
                "loops", "callbacks", "hyper_parameters", "rng_states", "stager_version", "torch_version", "config"):
        assert key in checkpoint, key
    assert checkpoint["hyper_parameters"] == {"hidden": 16, "lr": 0.02, "dropout": 0.1, "scheduler": "step"}
    assert checkpoint["config"]["model"]["class_path"] == "tiny_models.Regressor"
    assert set(checkpoint["rng_states"]) >= {"python", "numpy", "torch"}
    restored = Regressor.load_from_checkpoint(path)
    assert not restored.training
    x = torch.randn(3, 4)
    assert torch.equal(restored(x), trainer.lightning_module.eval()(x))


def test_checkpoint_rng_states_are_those_at_the_save(tmp_path):
    import random

    import numpy as np

    _, trainer = _fit(tmp_path, max_epochs=1)
    random.random()  # the Python generator moves on after the epoch began
    expected = random.getstate(), np.random.get_state(), torch.get_rng_state()
    trainer.save_checkpoint(tmp_path / "moved.ckpt")
    states = load_checkpoint(tmp_path / "moved.ckpt")["rng_states"]
    assert states["python"] == expected[0] and states["python"] != load_checkpoint(tmp_path / "moved.ckpt")["loops"]["epoch_start_rng"]["python"]
    assert np.array_equal(states["numpy"][1], expected[1][1]) and torch.equal(states["torch"], expected[2])
    trainer.save_checkpoint(tmp_path / "same.ckpt")  # not moved since: the same state in both places
    checkpoint = load_checkpoint(tmp_path / "same.ckpt")
    assert checkpoint["rng_states"]["python"] == random.getstate()


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    from stager.train import checkpoint as checkpoint_io

    target = tmp_path / "last.ckpt"
    checkpoint_io.atomic_save({"state_dict": {"w": torch.ones(1)}}, target)

    def exploding_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_io.torch, "save", exploding_save)
    try:
        checkpoint_io.atomic_save({"state_dict": {"w": torch.zeros(1)}}, target)
    except OSError:
        pass
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(target)["state_dict"]["w"], torch.ones(1))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_an_interrupt_inside_torch_save_stays_an_interrupt(tmp_path, monkeypatch):
    import pytest

    from stager.train import checkpoint as checkpoint_io

    def interrupted_save(obj, handle):
        handle.write(b"partial")
        try:
            raise KeyboardInterrupt("signal SIGTERM")
        finally:  # what torch's zip writer does as it closes the half-written archive
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(checkpoint_io.torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        checkpoint_io.write_pending({"state_dict": {}}, tmp_path / "last.ckpt")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        checkpoint_io.serialize({"state_dict": {}})


def test_a_checkpoint_serialised_in_memory_is_the_file_torch_save_writes(tmp_path):
    import io

    from stager.train import checkpoint as checkpoint_io

    shared = torch.arange(6.0)
    state = {"state_dict": {"w": shared, "tied": shared, "view": shared[2:4]}, "step": 7}
    direct = io.BytesIO()
    torch.save(state, direct)
    chunks = checkpoint_io.serialize(state)
    shared.add_(100.0)  # training goes on: the bytes already taken do not change
    path = checkpoint_io.commit(checkpoint_io.write_serialized_pending(chunks, tmp_path / "sub" / "last.ckpt"))
    assert path.read_bytes() == direct.getvalue()
    loaded = load_checkpoint(path)["state_dict"]
    assert torch.equal(loaded["w"], torch.arange(6.0))
    assert loaded["view"].untyped_storage().data_ptr() == loaded["w"].untyped_storage().data_ptr()  # still shared
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["last.ckpt"]
