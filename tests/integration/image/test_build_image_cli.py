"""`stager build-image` as a user runs it: exit codes, one-line errors, and signals mid-build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def stager(*args: str, home: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "STAGER_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "stager", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\nbase: linode/ubuntu24.04\nbuilder: {type: g6-nanode-1, region: us-east}\nsmok: [true]\n",
         ":4: `smok`: unknown key `smok` (did you mean `smoke`?)"),
        ("name: x\nbase: linode/ubuntu24.04\nbuilder: {type: g6-nanode-1, region: us-east}\nrun: true\n",
         ":4: `run`: expected a list of strings"),
        ("name: x\nbase: linode/ubuntu24.04\nbuilder: {type: g6-nanode-1, region: us-east}\n"
         "files: [{src: nope.txt, dest: /etc/x}]\n", ":4: `files.0.src`: file not found: nope.txt"),
        ("name: x\nbase: linode/ubuntu24.04\nbuilder: g6-nanode-1\n", ":3: `builder`: expected a mapping"),
    ],
    ids=["unknown-key", "wrong-type", "missing-file", "wrong-shape"],
)
def test_recipe_mistakes_exit_2_with_one_line(tmp_path, text, where):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    proc = stager("build-image", str(recipe), home=tmp_path / "home")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    assert f"{recipe}{where}" in lines[0]
    assert out == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_during_a_step_deletes_the_builder(tmp_path, sig):
    from stager.emulator import Emulator

    home = tmp_path / "home"
    recipe = tmp_path / "slow.yaml"
    recipe.write_text("name: slow\nbase: linode/ubuntu24.04\nbuilder: {type: g6-nanode-1, region: us-east}\n"
                      "stager: none\nrun: ['echo step-started; sleep 60']\n")
    with Emulator(home / "emulator", rate_limits=False) as emulator:
        proc = stager("build-image", str(recipe), home=home)
        try:
            deadline = time.monotonic() + 60
            logs = home / "images" / "builds"
            while not any("step-started" in p.read_text() for p in logs.glob("*.log")):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the step never started"
                time.sleep(0.05)
            assert len(emulator.backend.instances.list_instances()) == 1
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        assert "interrupted" in err.strip().splitlines()[-1]
        assert "Traceback" not in err
        emulator.settle()
        assert emulator.backend.instances.list_instances() == []
