"""What a run's instance runs: pull the datasets, then ``stager train fit --config train.yaml``, in one process.

    python -m stager.run.agent job.json

``job.json`` (written by the controller, nothing secret in it)::

    {"endpoint_url": "...", "datasets": {"data/mnist": "s3://bucket/datasets/mnist"}, "config": "train.yaml"}

One process rather than ``stager data pull && stager train fit``: torch and the
trainer are imported in a thread while the datasets download, so the first
training step comes about a second sooner (bench/run_overhead.py), and training
is the same ``stager train fit`` command line, run by the same code. The keys
are read from ``$STAGER_HOME/credentials.yaml`` like every stager command.

On a multi-node run torchrun starts this agent once per process: the node's
local rank 0 pulls the datasets while the others wait for it (they share the
node's ``data/``), and only global rank 0 reports the environment.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

__all__ = ["main"]


def _warm_up(environment: dict) -> None:
    try:
        import stager.train  # noqa: F401  (torch and the trainer, imported while the data downloads)
    except Exception:  # noqa: BLE001 - the real import below reports it properly
        pass
    from stager.run.environment import describe

    environment.update(describe())


def _pull(endpoint_url: str, datasets: dict[str, str]) -> None:
    from stager.data.workflow import hash_cache
    from stager.storage.credentials import resolve_settings
    from stager.storage.pull import pull_dataset
    from stager.storage.s3 import S3Location, make_client

    for folder, url in datasets.items():
        location = S3Location.parse(url)
        settings, close = resolve_settings("linode", location, endpoint_url=endpoint_url)
        try:
            with hash_cache() as cache:
                result = pull_dataset(location, Path(folder), make_client(settings), progress=False,
                                      say=lambda line: print(line, file=sys.stderr, flush=True), cache=cache)
        finally:
            close()
        print(f"pulled {len(result.sent)} file(s) ({result.bytes_sent / 1024**2:.1f} MB), {result.skipped} already "
              f"present; all verified into {folder}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from stager.cli.main import main as stager_main

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m stager.run.agent job.json", file=sys.stderr)
        return 2
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    environment: dict = {}
    warm = threading.Thread(target=_warm_up, args=(environment,), daemon=True)
    warm.start()
    # The pull goes through the CLI's error handling too: one line and an exit code on failure.
    code = _run(lambda: _pull_once_per_node(job["endpoint_url"], job["datasets"]))
    if code:
        return code
    warm.join()
    if environment and os.environ.get("RANK", "0") == "0":
        from stager.run.report import emit

        emit({"event": "environment", **environment})
    return stager_main(["train", "fit", "--config", job["config"]])


PULLED_MARK = "data/.pulled"  # written by a node's local rank 0 once its datasets are all there
PULL_WAIT_S = 3600.0


def _pull_once_per_node(endpoint_url: str, datasets: dict[str, str]) -> None:
    """Pull on local rank 0 (or without torchrun); the node's other processes wait for its mark."""
    import time

    from stager.errors import JobFailed

    mark = Path(PULLED_MARK)
    if os.environ.get("LOCAL_RANK", "0") == "0":
        _pull(endpoint_url, datasets)
        if "LOCAL_RANK" in os.environ:
            mark.parent.mkdir(parents=True, exist_ok=True)
            mark.touch()
        return
    deadline = time.monotonic() + PULL_WAIT_S
    while not mark.exists():
        if time.monotonic() > deadline:
            raise JobFailed(f"local rank 0 did not pull the datasets within {PULL_WAIT_S:g} s")
        time.sleep(0.5)


def _run(step) -> int:
    from stager.errors import StagerError

    try:
        step()
    except StagerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
