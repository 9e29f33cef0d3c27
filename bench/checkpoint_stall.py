"""How long a checkpoint holds training up: written in the background against written in place.

``ModelCheckpoint`` saves through ``stager.train.checkpoint_writer.CheckpointWriter``:
training waits while ``torch.save`` writes the file, and the fsync, the rename and the
folder's fsync finish on a background thread.  The baseline, measured in the same run,
is the same checkpoint written wholly on the training thread (``atomic_save``: write,
fsync, rename, fsync), as stager did before.

The checkpoint is a model-sized dict of float32 tensors (``--mib``, default 256 MiB,
about a 64M-parameter model) in a folder on this machine's disk (``--dir``; point it at
a Block Storage volume to see a network disk).  Rounds alternate the two ways; each
round waits until the previous checkpoint is durable before the next is timed.

    python bench/checkpoint_stall.py                 # ~10 s
    python bench/checkpoint_stall.py --mib 1024 --dir /mnt/volume

Numbers are printed, never asserted: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
from bench_common import stager_source_state

from stager.train.checkpoint import atomic_save
from stager.train.checkpoint_writer import CheckpointWriter


def make_checkpoint(mib: int) -> dict:
    """``mib`` MiB of float32 weights in 4 MiB tensors, shaped like a state dict."""
    tensors = max(1, mib // 4)
    g = torch.Generator().manual_seed(0)
    return {"state_dict": {f"layer{i}.weight": torch.randn(1024, 1024, generator=g) for i in range(tensors)},
            "epoch": 0, "global_step": 0}


def timed_in_place(checkpoint: dict, path: str) -> tuple[float, float]:
    start = time.perf_counter()
    atomic_save(checkpoint, path)
    stall = time.perf_counter() - start
    return stall, stall


def timed_in_background(checkpoint: dict, path: str) -> tuple[float, float]:
    writer = CheckpointWriter()
    start = time.perf_counter()
    writer.save(checkpoint, path, background=True, announce=lambda saved: None)
    stall = time.perf_counter() - start
    writer.wait()
    durable = time.perf_counter() - start
    writer.close()
    return stall, durable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="checkpoint size in MiB (default 256)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each timing both ways (default 5)")
    parser.add_argument("--dir", default=None, help="folder to write in (default: a new temporary folder)")
    args = parser.parse_args()

    checkpoint = make_checkpoint(args.mib)
    ways = {"in place (baseline)": timed_in_place, "background": timed_in_background}
    stalls: dict[str, list[float]] = {name: [] for name in ways}
    durables: dict[str, list[float]] = {name: [] for name in ways}
    print("checkpoint stall benchmark")
    print(f"  {stager_source_state()}")
    print(f"  torch {torch.__version__}, checkpoint {args.mib} MiB, {args.rounds} rounds, the two ways alternating")
    with tempfile.TemporaryDirectory(prefix="bench-checkpoint-", dir=args.dir) as folder:
        path = os.path.join(folder, "last.ckpt")
        timed_in_place(checkpoint, path)  # warm-up: the file exists, as it does from the second epoch on
        for r in range(args.rounds):
            order = list(ways) if r % 2 == 0 else list(ways)[::-1]
            for name in order:
                stall, durable = ways[name](checkpoint, path)
                stalls[name].append(stall)
                durables[name].append(durable)
            print(f"  round {r + 1}: " + ", ".join(f"{n} {stalls[n][-1]:.3f}s" for n in ways))
    print()
    print("training held up per checkpoint (median over rounds), and when the checkpoint is durable at its name")
    print(f"  {'way':<22}{'held up':>10}{'durable':>10}{'ratio':>9}")
    base = statistics.median(stalls["in place (baseline)"])
    for name in ways:
        held, durable = statistics.median(stalls[name]), statistics.median(durables[name])
        print(f"  {name:<22}{held:>9.3f}s{durable:>9.3f}s{held / base:>8.3f}x")


if __name__ == "__main__":
    main()
