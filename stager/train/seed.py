"""Seeding and the random-number state a checkpoint carries for exact resume."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

_SEED_ENV = "STAGER_GLOBAL_SEED"
_WORKERS_ENV = "STAGER_SEED_WORKERS"


def seed_everything(seed: int | None = None, workers: bool = False) -> int:
    """Seed python, numpy and torch (all devices) and return the seed.

    With ``workers=True`` the trainer gives dataloaders without their own
    ``worker_init_fn`` one that derives each worker's numpy/python seeds from
    torch's per-worker seed, so augmentations in workers are reproducible too.
    """
    if seed is None:
        env = os.environ.get(_SEED_ENV)
        seed = int(env) if env is not None else random.randint(0, 2**32 - 1)
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed {seed} is outside [0, 2**32)")
    os.environ[_SEED_ENV] = str(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    os.environ[_WORKERS_ENV] = "1" if workers else "0"
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def seed_workers_requested() -> bool:
    return os.environ.get(_WORKERS_ENV) == "1"


def worker_init_fn(worker_id: int) -> None:
    """Seed python and numpy in a dataloader worker from torch's worker seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def capture_rng_states() -> dict[str, Any]:
    """Every global generator's state; restoring it replays the same random stream."""
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(_as_python_state(states["python"]))
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"].cpu() if hasattr(states["torch"], "cpu") else states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        cuda_states = states["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _as_python_state(state: Any) -> tuple:
    # torch.load with weights_only turns the state's tuples into lists.
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
