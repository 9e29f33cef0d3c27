"""Where the model runs: one device, DDP, or FSDP (CUDA only).

Distributed runs are either launched from outside (torchrun sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) or spawned by
the trainer itself when ``devices > 1`` (see ``launcher.py``).  Collectives use
gloo on CPU and nccl on CUDA.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from stager.errors import UsageError


def launched_externally() -> bool:
    """True when torchrun (or SLURM through torchrun) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


class SingleDeviceStrategy:
    name = "single"
    is_distributed = False

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.global_rank = 0
        self.local_rank = 0
        self.node_rank = 0
        self.world_size = 1

    @property
    def root_device(self) -> torch.device:
        return self.device

    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    def setup_environment(self) -> None: ...

    def setup_module(self, module: torch.nn.Module) -> torch.nn.Module:
        """Move (and for distributed strategies, wrap) the module; returns what to call."""
        return module.to(self.root_device)

    def reduce(self, tensor: torch.Tensor, op: str = "mean") -> torch.Tensor:
        return tensor

    def barrier(self) -> None: ...

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        return obj

    def no_backward_sync(self, wrapped: torch.nn.Module, enabled: bool):
        return contextlib.nullcontext()

    def model_state_dict(self, module: torch.nn.Module) -> dict[str, Any]:
        return module.state_dict()

    def optimizer_state_dict(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        return optimizer.state_dict()

    def load_model_state_dict(self, module: torch.nn.Module, state: dict[str, Any], strict: bool = True) -> None:
        module.load_state_dict(state, strict=strict)

    def load_optimizer_state_dict(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        optimizer.load_state_dict(state)

    def teardown(self, finished: bool = True) -> None: ...


_OPS = {"sum": dist.ReduceOp.SUM, "mean": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}


class DDPStrategy(SingleDeviceStrategy):
    """torch.nn.parallel.DistributedDataParallel, one process per device."""

    name = "ddp"
    is_distributed = True

    def __init__(self, accelerator: str, world_size: int, global_rank: int, local_rank: int, node_rank: int = 0, timeout_s: float = 1800) -> None:
        device = torch.device("cuda", local_rank) if accelerator == "cuda" else torch.device("cpu")
        super().__init__(device)
        self.accelerator = accelerator
        self.world_size = world_size
        self.global_rank = global_rank
        self.local_rank = local_rank
        self.node_rank = node_rank
        self.timeout_s = timeout_s
        self._owns_group = False

    def setup_environment(self) -> None:
        if self.accelerator == "cuda":
            torch.cuda.set_device(self.device)
        if not dist.is_initialized():
            backend = "nccl" if self.accelerator == "cuda" else "gloo"
            dist.init_process_group(
                backend,
                rank=self.global_rank,
                world_size=self.world_size,
                timeout=timedelta(seconds=self.timeout_s),
            )
            self._owns_group = True

    def setup_module(self, module: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        module = module.to(self.root_device)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def reduce(self, tensor: torch.Tensor, op: str = "mean") -> torch.Tensor:
        tensor = tensor.clone()
        if self.accelerator != "cuda" and tensor.device.type != "cpu":
            tensor = tensor.cpu()
        dist.all_reduce(tensor, op=_OPS[op])
        if op == "mean":
            tensor = tensor / self.world_size
        return tensor

    def barrier(self) -> None:
        dist.barrier()

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        holder = [obj]
        dist.broadcast_object_list(holder, src=src)
        return holder[0]

    def no_backward_sync(self, wrapped: torch.nn.Module, enabled: bool):
        # Skipping the all-reduce on accumulation steps is what makes
        # accumulate_grad_batches cheap under DDP.
        return wrapped.no_sync() if enabled else contextlib.nullcontext()

    def teardown(self, finished: bool = True) -> None:
        if self._owns_group and dist.is_initialized():
            # After success wait for every rank: gloo aborts a peer whose group vanished
            # mid-call.  After a failure the others may never arrive, so do not wait.
            if finished:
                dist.barrier()
            dist.destroy_process_group()
            self._owns_group = False
            # Collect the group's store and transport now: left to interpreter exit, their native threads
            # are sometimes destroyed still joinable, and the process aborts ("terminate called without
            # an active exception", exit -6) after a successful fit (seen about 1 run in 10 under torchrun).
            import gc

            gc.collect()


class FSDPStrategy(DDPStrategy):
    """Fully sharded data parallel (torch's ``fully_shard``), CUDA only.

    Every direct child module with parameters becomes one shard unit, then the
    root.  Checkpoints hold full (unsharded) state gathered to CPU, so they load
    into a single-device run.  Not supported: sharded checkpoints, CPU offload.
    """

    name = "fsdp"

    def __init__(self, accelerator: str, *args: Any, **kwargs: Any) -> None:
        if accelerator != "cuda":
            raise UsageError('strategy "fsdp" needs accelerator "cuda"; use "ddp" on CPU')
        super().__init__(accelerator, *args, **kwargs)

    def setup_module(self, module: torch.nn.Module) -> torch.nn.Module:
        from torch.distributed.fsdp import fully_shard

        module = module.to(self.root_device)
        for child in module.children():
            if any(p.requires_grad for p in child.parameters()):
                fully_shard(child)
        fully_shard(module)
        return module

    def no_backward_sync(self, wrapped: torch.nn.Module, enabled: bool):
        return contextlib.nullcontext()

    def _options(self):
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=True, cpu_offload=True)

    def model_state_dict(self, module: torch.nn.Module) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(module, options=self._options())

    def optimizer_state_dict(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(module, optimizer, options=self._options())

    def load_model_state_dict(self, module: torch.nn.Module, state: dict[str, Any], strict: bool = True) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(module, state, options=StateDictOptions(full_state_dict=True, strict=strict))

    def load_optimizer_state_dict(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(module, optimizer, state, options=StateDictOptions(full_state_dict=True))


def resolve_accelerator(accelerator: str) -> str:
    """Map Lightning's accelerator names onto a torch device type."""
    name = str(accelerator).lower()
    if name == "gpu":
        name = "cuda"
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unknown accelerator {accelerator!r}; use cpu, cuda (gpu), mps or auto")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError('accelerator "cuda" was asked for but no CUDA device is available; use "cpu" or "auto"')
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError('accelerator "mps" was asked for but MPS is not available; use "cpu" or "auto"')
    return name


def resolve_devices(devices: Any, accelerator: str) -> list[int]:
    """Device indices on this node: ``devices`` is an int, a list, "auto" or -1."""
    available = torch.cuda.device_count() if accelerator == "cuda" else 1
    if devices in ("auto", -1, "-1"):
        count = available if accelerator == "cuda" else 1
        return list(range(count))
    if isinstance(devices, str):
        devices = [int(d) for d in devices.split(",") if d.strip()] if "," in devices else int(devices)
    if isinstance(devices, int):
        if devices < 1:
            raise UsageError(f"devices={devices}; use a positive number, a list of indices, -1 or 'auto'")
        if accelerator == "cuda" and devices > available:
            raise UsageError(f"devices={devices} but only {available} CUDA device(s) are visible")
        return list(range(devices))
    indices = [int(d) for d in devices]
    if accelerator == "cuda" and any(i >= available for i in indices):
        raise UsageError(f"devices={indices} but only {available} CUDA device(s) are visible")
    return indices


def make_strategy(strategy: str, accelerator: str, devices: list[int], num_nodes: int) -> SingleDeviceStrategy:
    """Pick the strategy for this process; an externally launched process reads its ranks from the environment."""
    name = str(strategy).lower()
    if name not in ("auto", "ddp", "ddp_spawn", "fsdp", "single_device"):
        raise UsageError(f"unknown strategy {strategy!r}; use auto, ddp, fsdp")
    if launched_externally():
        world = int(os.environ["WORLD_SIZE"])
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ["LOCAL_RANK"])
        node_rank = int(os.environ.get("GROUP_RANK", os.environ.get("NODE_RANK", "0")))
        if world > 1 or name in ("ddp", "fsdp"):
            cls = FSDPStrategy if name == "fsdp" else DDPStrategy
            return cls(accelerator, world, rank, local_rank, node_rank)
    processes = len(devices) * num_nodes
    if processes > 1 or name in ("ddp", "ddp_spawn", "fsdp"):
        if num_nodes > 1:
            raise UsageError("num_nodes > 1 needs a launcher: start every node with torchrun")
        if processes == 1:
            device = torch.device("cuda", devices[0]) if accelerator == "cuda" else torch.device(accelerator)
            return SingleDeviceStrategy(device)
        cls = FSDPStrategy if name == "fsdp" else DDPStrategy
        # ranks are filled in by the launcher in each spawned process
        return cls(accelerator, processes, 0, 0, 0)
    device = torch.device("cuda", devices[0]) if accelerator == "cuda" else torch.device(accelerator)
    return SingleDeviceStrategy(device)
