"""Spawning one process per device when the trainer was not started by torchrun.

Each child gets the usual torch.distributed environment variables, runs the
same trainer method, and rank zero hands its results (weights, metrics,
checkpoint paths) back to the parent through a file, so that after
``trainer.fit(model)`` the parent's ``model`` holds the trained weights.
"""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from stager.errors import JobFailed, StagerError


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, payload: bytes, method: str, port: int, folder: str) -> None:
    trainer, args = pickle.loads(payload)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(trainer.strategy.world_size),
        # one thread per process: several processes share the machine's cores
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
    )
    strategy = trainer.strategy
    strategy.global_rank = strategy.local_rank = rank
    if strategy.accelerator == "cuda":
        strategy.device = torch.device("cuda", rank)
    try:
        result = getattr(trainer, method)(*args)
    except BaseException as exc:  # report every failure to the parent, then fail this process
        message = str(exc) if isinstance(exc, StagerError) else f"{type(exc).__name__}: {exc}"
        torch.save({"error": type(exc).__name__, "message": message, "trace": traceback.format_exc(),
                    "stager_error": isinstance(exc, StagerError), "exc": exc if isinstance(exc, StagerError) else None},
                   Path(folder) / f"error-{rank}.pt")
        raise SystemExit(1)
    if rank == 0:
        torch.save(trainer._spawn_results(result), Path(folder) / "result.pt")


def spawn(trainer, method: str, *args: Any) -> Any:
    """Run ``trainer.<method>(*args)`` in ``world_size`` processes; return rank zero's result."""
    with tempfile.TemporaryDirectory(prefix="stager-spawn-") as folder:
        try:
            mp.start_processes(
                _worker,
                # Plain pickle copies tensors: torch.multiprocessing would share their
                # memory, and every process would then step the same weights.
                args=(pickle.dumps((trainer, args)), method, _free_port(), folder),
                nprocs=trainer.strategy.world_size,
                start_method="spawn",
                join=True,
            )
        except mp.ProcessRaisedException as exc:  # pragma: no cover - errors are saved as files first
            raise JobFailed(f"a training process failed: {str(exc).strip().splitlines()[-1]}") from None
        except mp.ProcessExitedException:
            errors = sorted(Path(folder).glob("error-*.pt"))
            if not errors:
                raise JobFailed("a training process exited without reporting why") from None
            report = torch.load(errors[0], weights_only=False)
            if report.get("exc") is not None:
                raise report["exc"] from None
            raise JobFailed(f"training process {errors[0].stem.split('-')[1]} failed: {report['message']}") from None
        results = torch.load(Path(folder) / "result.pt", weights_only=False)
    return trainer._adopt_spawn_results(results)
