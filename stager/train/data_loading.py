"""Preparing dataloaders for the trainer: distributed samplers, worker seeding, limits."""

from __future__ import annotations

import os
from typing import Any

from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from stager.errors import UsageError
from stager.train.seed import seed_workers_requested, worker_init_fn


def _rebuild(loader: DataLoader, **changes: Any) -> DataLoader:
    """A new DataLoader with the same settings as ``loader`` except ``changes``."""
    kwargs = dict(
        batch_size=loader.batch_size,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        generator=loader.generator,
        persistent_workers=loader.persistent_workers,
        sampler=loader.sampler,
    )
    if loader.num_workers > 0:
        kwargs["prefetch_factor"] = loader.prefetch_factor
    kwargs.update(changes)
    return DataLoader(loader.dataset, **kwargs)


def prepare_loader(loader: Any, *, world_size: int, rank: int, shuffle_default: bool, use_distributed_sampler: bool = True) -> Any:
    """Give ``loader`` a DistributedSampler (when running on several processes) and
    a seeding ``worker_init_fn`` (when ``seed_everything(workers=True)``).

    Loaders with a custom batch sampler, or that are not ``DataLoader``s, are
    returned unchanged: the user then owns sharding across processes.
    """
    if not isinstance(loader, DataLoader) or loader.batch_size is None:
        return loader
    changes: dict[str, Any] = {}
    sampler = loader.sampler
    if world_size > 1 and use_distributed_sampler and not isinstance(sampler, DistributedSampler):
        if not isinstance(sampler, (RandomSampler, SequentialSampler)):
            return loader
        shuffle = isinstance(sampler, RandomSampler) if sampler is not None else shuffle_default
        seed = int(os.environ.get("STAGER_GLOBAL_SEED", "0"))
        changes["sampler"] = DistributedSampler(
            loader.dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=loader.drop_last
        )
    if seed_workers_requested() and loader.num_workers > 0 and loader.worker_init_fn is None:
        changes["worker_init_fn"] = worker_init_fn
    return _rebuild(loader, **changes) if changes else loader


def set_sampler_epoch(loader: Any, epoch: int) -> None:
    """Reshuffle a distributed sampler for ``epoch`` (each process the same order)."""
    for candidate in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if hasattr(candidate, "set_epoch"):
            candidate.set_epoch(epoch)


def batch_limit(loader: Any, limit: int | float | None, what: str) -> int | float:
    """How many batches to take from ``loader``: an int, or ``inf`` for an unsized loader."""
    try:
        available = len(loader)
    except TypeError:
        available = float("inf")
    if limit is None:
        return available
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
        raise UsageError(f"limit_{what}_batches={limit!r}; use a count (int) or a fraction in [0, 1] (float)")
    if isinstance(limit, float):
        if limit > 1.0:
            raise UsageError(f"limit_{what}_batches={limit}; a float is a fraction in [0, 1]")
        if available == float("inf"):
            return available if limit == 1.0 else 0
        count = int(available * limit)
        return max(1, count) if limit > 0 else 0
    return min(limit, available)
