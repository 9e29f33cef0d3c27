"""`stager run`'s overhead: the time from the command to the first training step, and the ledger's cost per event.

On the local target with no emulated latency, the image built and the data
synced beforehand (one warm-up run), interleaved over ``--rounds`` rounds:

  baseline   ``stager train fit --config`` of the same trainer config on this
             machine: Python, torch and the trainer starting up, data loaded,
             up to the first step reported
  run        ``stager run`` of the pipeline up to the first step reported by
             the instance: the checks, validation (hash cache), sync (nothing to
             send), image lookup, firewall, key, instance, SSH, upload, data
             pull on the instance, and the same trainer start

The first step is the moment the trainer's first report line arrives (the
``[train] started`` line of ``stager run``; the first ``@stager`` line of the
baseline, which runs with the same reporting callback). The figure is the median
over rounds, in seconds, and the ratio run / baseline. The target: at most 5 s
from `stager run` to the first step.

Then the ledger: bench/ledger_events.py's measure, milliseconds per event
(target: at most 5 ms).

    python bench/run_overhead.py
    python bench/run_overhead.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_common import stager_source_state

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _pipeline(folder: Path, data: Path) -> Path:
    doc = yaml.safe_load((REPO / "pipelines" / "exp.yaml").read_text())
    doc["image"] = str(REPO / "images" / "cpu.yaml")
    doc["data"]["mnist"]["path"] = str(data)
    doc["train"]["data"]["init_args"]["data_dir"] = str(data)
    doc["train"]["trainer"]["max_epochs"] = 1
    doc["train"]["trainer"]["limit_train_batches"] = 20
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _until(argv: list[str], env: dict, marker: str, cwd: Path) -> float:
    """Seconds from starting ``argv`` to the first output line holding ``marker``; the process then runs to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = None
    for line in process.stdout:
        if seen is None and marker in line:
            seen = time.perf_counter() - started
    process.wait()
    if process.returncode != 0 or seen is None:
        raise SystemExit(f"{' '.join(argv[:5])} failed (exit {process.returncode}) or never printed {marker!r}")
    return seen


def _baseline_config(folder: Path, pipeline: Path) -> Path:
    config = yaml.safe_load(pipeline.read_text())["train"]
    config["trainer"]["default_root_dir"] = str(folder / "baseline-out")
    config["trainer"]["enable_progress_bar"] = False
    config["trainer"].setdefault("callbacks", []).append({"class_path": "stager.run.report.MetricsReport"})
    path = folder / "baseline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000, help="ledger events per round")
    args = parser.parse_args()

    print(f"# {stager_source_state()}; python {platform.python_version()}; {os.cpu_count()} CPUs")
    folder = Path(tempfile.mkdtemp(prefix="stager-bench-run-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGER_", "AWS_", "LINODE_"))}
        env.update(STAGER_HOME=str(folder / "home"), PYTHONUNBUFFERED="1")
        data = folder / "mnist"
        from stager.examples.mnist import MNISTDataModule

        MNISTDataModule(data_dir=str(data), generate=True).prepare_data()
        pipeline = _pipeline(folder, data)
        baseline_config = _baseline_config(folder, pipeline)
        run = [sys.executable, "-m", "stager", "run", str(pipeline), "--runs-dir", str(folder / "runs")]
        fit = [sys.executable, "-m", "stager", "train", "fit", "--config", str(baseline_config)]
        warm = time.perf_counter()
        _until(run, env, "[train] started", folder)  # builds the image and syncs the data
        print(f"warm-up run (image build, first sync): {time.perf_counter() - warm:.1f} s")
        base, runs = [], []
        for round_ in range(args.rounds):
            base.append(_until(fit, env, "@stager ", folder))
            runs.append(_until(run, env, "[train] started", folder))
            print(f"round {round_ + 1}: baseline {base[-1]:.2f} s, run {runs[-1]:.2f} s")
        b, r = statistics.median(base), statistics.median(runs)
        print(f"time to first step: baseline (stager train fit) {b:.2f} s, stager run {r:.2f} s, "
              f"ratio {r / b:.2f}x; target <= 5 s: {'met' if r <= 5 else 'NOT met'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import ledger_events

    with tempfile.TemporaryDirectory(prefix="stager-bench-ledger-") as scratch:
        for name in ("b", "l"):
            (Path(scratch) / name).mkdir()
        base_s = ledger_events.baseline(Path(scratch) / "b", args.events)
        ledger_s, _verify = ledger_events.ledger(Path(scratch) / "l", args.events)
    per_event = 1000 * ledger_s / args.events
    print(f"ledger: {per_event:.3f} ms/event, bare sqlite {1000 * base_s / args.events:.3f} ms/row, "
          f"ratio {ledger_s / base_s:.2f}x; target <= 5 ms: {'met' if per_event <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
