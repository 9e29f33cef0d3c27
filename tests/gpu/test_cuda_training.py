"""CUDA paths: mixed precision, and FSDP across the visible GPUs. Skipped without CUDA."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit", "train"))


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed", "32-true"])
def test_mixed_precision_trains_on_cuda(tmp_path, precision):
    from tiny_models import RegressionData, Regressor

    from stager.train import Trainer, seed_everything

    seed_everything(0)
    model = Regressor(dropout=0.0, scheduler="none", lr=0.01)
    trainer = Trainer(accelerator="cuda", devices=1, precision=precision, max_epochs=3, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, default_root_dir=str(tmp_path))
    trainer.fit(model, datamodule=RegressionData())
    assert next(model.parameters()).is_cuda
    assert float(trainer.callback_metrics["val_loss"]) < 30


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="FSDP needs two GPUs")
def test_fsdp_checkpoint_loads_into_a_single_device_model(tmp_path):
    script = tmp_path / "fsdp.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.join(os.path.dirname(__file__), "..", "unit", "train")!r})
        from tiny_models import RegressionData, Regressor
        from stager.train import Trainer, seed_everything
        seed_everything(0)
        trainer = Trainer(accelerator="cuda", devices=2, strategy="fsdp", max_epochs=2, logger=False,
                          enable_checkpointing=False, enable_progress_bar=False)
        trainer.fit(Regressor(dropout=0.0, scheduler="none"), datamodule=RegressionData())
        trainer.save_checkpoint({str(tmp_path / "fsdp.ckpt")!r})
    """))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    from tiny_models import Regressor

    model = Regressor.load_from_checkpoint(tmp_path / "fsdp.ckpt")
    assert model(torch.zeros(2, 4)).shape == (2, 1)
