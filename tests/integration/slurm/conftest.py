"""Fixtures of the `target: slurm` tests: a one-node SLURM cluster on this machine (slurm_cluster.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from slurm_cluster import ClusterUnavailable, start_cluster

# The pipeline and dataset helpers of the `stager run` tests, reused as they are.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run"))


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    except ClusterUnavailable as exc:
        pytest.skip(f"no SLURM test cluster: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def mnist_data(tmp_path_factory) -> Path:
    from run_world import make_dataset

    folder = tmp_path_factory.mktemp("slurm-data") / "mnist"
    make_dataset(folder)
    return folder
