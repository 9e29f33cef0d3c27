"""How fast ``stager data validate`` reads .npy arrays, beside a bare NumPy pass over the same bytes.

Makes a dataset in a temporary folder (float32 ``train_x.npy`` / ``val_x.npy``
and int64 labels, written a block at a time so making it needs little memory),
then, interleaved over ``--repeat`` rounds:

  baseline   np.load(mmap_mode="r") + np.isfinite(x).all() on each input array
  validate   stager.data.validation.validate_dataset with the default checks
             (files, shapes, finite, labels, duplicates, leakage, conflicts;
             statistics for the manifest)

Both read from the page cache after a first, untimed round, so the numbers
are CPU cost, not disk speed.  NumPy and torch are held to one thread.

    python bench/validate.py                  # 1 GiB of inputs
    python bench/validate.py --size-mb 2048 --features 256 --repeat 5
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy is imported, so its BLAS starts with one thread

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from bench_common import stager_source_state  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stager.data.validation import validate_dataset  # noqa: E402


def _one_thread() -> str:
    try:
        import torch

        torch.set_num_threads(1)
        return f"torch {torch.__version__} threads={torch.get_num_threads()}"
    except ImportError:
        return "torch not installed"


def make_dataset(folder: Path, total_mb: int, features: int, seed: int = 0) -> int:
    """Write train (90%) and val (10%) float32 inputs and int64 labels; returns the input bytes."""
    rng = np.random.default_rng(seed)
    rows = total_mb * 1024 * 1024 // (4 * features)
    sizes = {"train": rows * 9 // 10, "val": rows - rows * 9 // 10}
    block = max(1, (16 * 1024 * 1024) // (4 * features))
    for split, n in sizes.items():
        x = np.lib.format.open_memmap(folder / f"{split}_x.npy", mode="w+", dtype=np.float32, shape=(n, features))
        for start in range(0, n, block):
            stop = min(n, start + block)
            x[start:stop] = rng.standard_normal((stop - start, features), dtype=np.float32)
        x.flush()
        del x
        np.save(folder / f"{split}_y.npy", rng.integers(0, 10, size=n))
    return rows * features * 4


def baseline(folder: Path) -> None:
    for split in ("train", "val"):
        x = np.load(folder / f"{split}_x.npy", mmap_mode="r")
        assert np.isfinite(x).all()


def validate(folder: Path) -> None:
    report = validate_dataset(folder)
    assert report.ok, [f.message for f in report.findings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="input bytes in all, in MiB (default 1024)")
    parser.add_argument("--features", type=int, default=256, help="float32 values per sample (default 256)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the data (default: a temp folder)")
    args = parser.parse_args()

    threads = _one_thread()
    print(stager_source_state())
    print(f"python {platform.python_version()}, numpy {np.__version__}, {threads}, {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="stager-bench-validate-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        nbytes = make_dataset(folder, args.size_mb, args.features)
        print(f"data: {nbytes / 1e6:.0f} MB of float32 ({args.features} features) in {folder}, "
              f"made in {time.perf_counter() - t0:.1f} s")
        contenders = {"baseline": baseline, "validate": validate}
        for run in contenders.values():  # warm the page cache and imports
            run(folder)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for round_ in range(args.repeat):
            names = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
            for name in names:
                start = time.perf_counter()
                contenders[name](folder)
                times[name].append(time.perf_counter() - start)
        speeds = {name: nbytes / 1e6 / statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{name:9s} median {statistics.median(t):6.3f} s  {speeds[name]:8.0f} MB/s  "
                  f"(rounds: {', '.join(f'{v:.3f}' for v in t)})")
        ratio = speeds["validate"] / speeds["baseline"]
        print(f"validate / baseline throughput: {ratio:.3f}  (validate runs at {speeds['validate']:.0f} MB/s; "
              f"target >= 200 MB/s)")


if __name__ == "__main__":
    main()
