"""DDP on CPU with gloo: two processes give the same model as one process on the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import torch
from tiny_models import Regressor, regression_data, weights
from torch.utils.data import DataLoader

from stager.train import ModelCheckpoint, Trainer, seed_everything


def _train(devices: int, batch_size: int, root=None) -> dict[str, torch.Tensor]:
    seed_everything(11)
    model = Regressor(dropout=0.0, scheduler="none", lr=0.05)
    loader = DataLoader(regression_data(128), batch_size=batch_size, shuffle=False)
    checkpoints = [ModelCheckpoint(dirpath=str(root), save_last=True)] if root else None
    trainer = Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", max_epochs=2,
                      logger=False, enable_checkpointing=bool(root), callbacks=checkpoints, enable_progress_bar=False,
                      num_sanity_val_steps=0)
    trainer.fit(model, loader)
    assert trainer.global_step == 2 * 128 // (batch_size * devices)
    return weights(model)


def test_two_spawned_gloo_processes_match_one_process(tmp_path):
    single = _train(devices=1, batch_size=16)
    ddp = _train(devices=2, batch_size=8, root=tmp_path)  # 2 x 8 = the same global batch of 16
    from_checkpoint = weights(Regressor.load_from_checkpoint(tmp_path / "last.ckpt"))
    for name, tensor in single.items():
        torch.testing.assert_close(ddp[name], tensor, rtol=1e-5, atol=1e-6)
        assert torch.equal(from_checkpoint[name], ddp[name])


def test_torchrun_launch_matches_one_process(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from tiny_models import Regressor, regression_data
        from torch.utils.data import DataLoader
        from stager.train import ModelCheckpoint, Trainer, seed_everything
        seed_everything(11)
        model = Regressor(dropout=0.0, scheduler="none", lr=0.05)
        trainer = Trainer(accelerator="cpu", strategy="ddp", max_epochs=2, logger=False,
                          enable_checkpointing=False, enable_progress_bar=False)
        trainer.fit(model, DataLoader(regression_data(128), batch_size=8))
        if trainer.is_global_zero:
            torch.save(model.state_dict(), {str(tmp_path / "ddp.pt")!r})
    """))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    single = _train(devices=1, batch_size=16)
    ddp = torch.load(tmp_path / "ddp.pt")
    for name, tensor in single.items():
        torch.testing.assert_close(ddp[name], tensor, rtol=1e-5, atol=1e-6)
