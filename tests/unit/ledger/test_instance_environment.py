"""The training instance's packages: reported by the agent, kept by the ledger, compared by `runs diff`."""

from __future__ import annotations

import os
import subprocess
import sys

from stager.audit.diff import diff_runs
from stager.run.environment import ENVIRONMENT_EVENT, describe, ledger_data


def test_describe_lists_this_interpreters_packages():
    import numpy
    import torch

    found = describe()
    assert found["packages"]["numpy"] == numpy.__version__
    assert found["packages"]["torch"] == torch.__version__
    assert list(found["packages"]) == sorted(found["packages"])
    assert ledger_data({"event": "environment", **found}) == found
    assert ledger_data({"event": "metrics", "packages": {}}) is None


def test_diff_names_each_package_that_changed(ledger, make_run):
    a, b = make_run(), make_run()
    ledger.event(a, ENVIRONMENT_EVENT, {"python": "3.11.7", "packages": {"numpy": "2.1.0", "torch": "2.13.0",
                                                                          "tqdm": "4.66.0"}})
    ledger.event(b, ENVIRONMENT_EVENT, {"python": "3.11.7", "packages": {"numpy": "2.2.1", "torch": "2.13.0",
                                                                          "rich": "13.7.0"}})
    changes = {c.path: c for c in diff_runs(ledger.run(a), ledger.run(b), manifests=None).environment}
    assert set(changes) == {"package.numpy", "package.tqdm", "package.rich"}
    assert (changes["package.numpy"].a, changes["package.numpy"].b) == ("2.1.0", "2.2.1")
    assert changes["package.tqdm"].kind == "removed" and changes["package.rich"].kind == "added"


def test_runs_show_summarises_the_package_list(tmp_path, ledger, ledger_path, make_run):
    run_id = make_run()
    packages = {f"pkg{n}": "1.0" for n in range(120)} | {"torch": "2.13.0"}
    ledger.event(run_id, ENVIRONMENT_EVENT, {"python": "3.11.7", "packages": packages})
    shown = subprocess.run([sys.executable, "-m", "stager", "runs", "show", run_id, "--ledger", str(ledger_path)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "STAGER_HOME": str(tmp_path / "home")})
    assert shown.returncode == 0, shown.stderr
    assert "python 3.11.7, 121 packages (torch 2.13.0)" in shown.stdout
    assert "pkg77" not in shown.stdout  # the events table says how many, not which
