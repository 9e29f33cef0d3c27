"""Gold-image build speed on the local target: a cold build of images/cpu.yaml, and a cache hit.

    python bench/image_build.py [--rounds 3] [--hits 10]

Targets: a cold local build of images/cpu.yaml in <= 60 s on a 2-core machine;
a cache hit (an image with the recipe's hash exists) decided in <= 1 s.

Baselines, measured in the same run:
- cold build: the recipe's own work without stager's machinery, i.e. the same
  step commands (venv, pip, wheel install, files, smoke tests) run with bash
  in a scratch folder on this machine, with no emulator, SSH, capture or
  teardown. The ratio is what provisioning, SSH and capture add.
- cache hit: the local part of the decision alone (building the stager wheel
  and hashing the recipe), without asking the cloud for the image.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import stager_source_state

from stager.cloud import Backoff, CloudTarget, LinodeCloud
from stager.emulator import Emulator
from stager.image.builder import ImageBuilder
from stager.image.fingerprint import fingerprint
from stager.image.layout import InstanceLayout
from stager.image.recipe import load_recipe
from stager.image.steps import plan_steps

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "images" / "cpu.yaml"


def baseline_steps(recipe, scratch: Path) -> float:
    """Run the recipe's step commands directly with bash in ``scratch``; return the seconds taken."""
    root = scratch / "fs"
    home = root / "root"
    home.mkdir(parents=True)
    wheel_dir = scratch / "wheel"
    _, wheel = fingerprint(recipe)
    wheel_path = wheel.write(wheel_dir) if wheel else None
    steps = plan_steps(recipe, InstanceLayout(root=str(root), sandboxed=True), wheel_path)
    start = time.perf_counter()
    for step in steps:
        if step.command is None:
            continue
        for upload in step.uploads:
            dest = home / upload.remote
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(upload.local, dest)
        subprocess.run(["/bin/bash", "-c", step.command], cwd=home, check=True, capture_output=True,
                       env={"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="cold builds (and baseline runs), interleaved")
    parser.add_argument("--hits", type=int, default=10, help="cache-hit decisions timed")
    args = parser.parse_args()
    print(stager_source_state())
    recipe = load_recipe(RECIPE)
    builds, baselines, hits, local_parts = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="stager-bench-") as tmp, \
            Emulator(Path(tmp) / "emulator", rate_limits=False) as emulator:
        target = CloudTarget("local", LinodeCloud(emulator.client(), poll=Backoff(0.05, 1.0)), sandboxed=True,
                             s3_endpoint=emulator.s3_endpoint)
        builder = ImageBuilder(target, home=Path(tmp) / "home", say=lambda line: None)
        for round_ in range(args.rounds):
            start = time.perf_counter()
            result = builder.build(recipe, force=True)
            builds.append(time.perf_counter() - start)
            assert not result.reused and result.image.status == "available"
            baselines.append(baseline_steps(recipe, Path(tmp) / f"baseline-{round_}"))
            print(f"round {round_ + 1}: cold build {builds[-1]:.2f} s, baseline {baselines[-1]:.2f} s", flush=True)
        for _ in range(args.hits):
            start = time.perf_counter()
            assert builder.build(recipe).reused
            hits.append(time.perf_counter() - start)
            start = time.perf_counter()
            fingerprint(recipe)
            local_parts.append(time.perf_counter() - start)
        assert not emulator.backend.instances.list_instances(), "a builder was left behind"

    build, base = statistics.median(builds), statistics.median(baselines)
    hit, local = statistics.median(hits), statistics.median(local_parts)
    print(f"cold build of images/cpu.yaml: median {build:.2f} s over {args.rounds} (max {max(builds):.2f} s); "
          f"target 60 s -> {build / 60:.2f}x target; recipe steps alone {base:.2f} s -> {build / base:.2f}x baseline")
    print(f"cache hit: median {hit * 1000:.0f} ms over {args.hits} (max {max(hits) * 1000:.0f} ms); "
          f"target 1 s -> {hit:.2f}x target; wheel + hash alone {local * 1000:.0f} ms -> {hit / local:.2f}x baseline")


if __name__ == "__main__":
    main()
