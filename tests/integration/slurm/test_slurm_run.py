"""`stager run` with `target: slurm` against a real one-node SLURM cluster on this machine."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from run_world import RunWorld, finish

from stager.hashing import sha256_file

SLURM = {"partition": "debug", "account": "lab", "time": "00:10:00", "nodes": 1, "gpus_per_node": 0}


def _pipeline(folder: Path, data: Path, *, epochs: int = 2, batches: int | None = 4, **slurm) -> Path:
    """run_world's MNIST pipeline, on target slurm (its image, compute, storage and budget stay, unused)."""
    world = RunWorld(home=folder / "home", emulator=None, data=data)
    return world.pipeline(folder, epochs=epochs, batches=batches, target="slurm", slurm={**SLURM, **slurm})


def _env(home: Path, cluster) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LINODE_", "STAGER_", "SLURM_"))}
    return {**env, **cluster.env(), "STAGER_HOME": str(home), "PYTHONUNBUFFERED": "1", "STAGER_SLURM_POLL_S": "0.5"}


def _stager(folder: Path, cluster, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stager", *args], cwd=folder, env=_env(folder / "home", cluster),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(process: subprocess.Popen, timeout: float = 90) -> tuple[int, str, str]:
    done = finish(process, timeout)
    return done.returncode, done.stdout, done.stderr


def _ledger(folder: Path):
    from stager.ledger import Ledger

    return Ledger.open(folder / "home" / "ledger.sqlite")


def _needs_slurm_job_kind() -> None:
    from stager.ledger.checks import RESOURCE_KINDS

    if "slurm_job" not in RESOURCE_KINDS:
        pytest.skip("the ledger does not accept resource kind slurm_job (stager.ledger.checks.RESOURCE_KINDS)")


def test_dry_run_prints_a_quoted_script_and_runs_nothing(slurm_cluster, mnist_data, tmp_path):
    hostile = tmp_path / "runs $(touch pwned) it's \"here\""
    pipeline = _pipeline(tmp_path, mnist_data, workdir=str(hostile), gpus_per_node=2,
                         extra_sbatch=["--mem=500M", "--comment=a b; $(touch pwned)"])
    code, out, err = _finish(_stager(tmp_path, slurm_cluster, "run", str(pipeline), "--dry-run"))
    assert code == 0, err
    run_id = re.search(r"#SBATCH --job-name=stager-(r\S+)", out).group(1)
    run_root = hostile / run_id
    assert "#SBATCH --partition=debug" in out and "#SBATCH --account=lab" in out
    assert "#SBATCH --time=00:10:00" in out and "#SBATCH --nodes=1" in out
    assert "#SBATCH --gpus-per-node=2" in out and "#SBATCH --mem=500M" in out
    assert f"#SBATCH --output={shlex.quote(str(run_root / 'logs' / 'slurm-%j.out'))}" in out
    assert f"#SBATCH --comment={shlex.quote('a b; $(touch pwned)')}" in out
    assert "--standalone --nnodes 1" in out and "--nproc-per-node 2 -m stager train fit --config" in out
    # The launch line, run by bash with srun swapped for printf: every value arrives as one word, nothing runs.
    body = out.replace("srun --ntasks-per-node=1 ", "printf '%s\\n' ")
    shown = subprocess.run(["bash", "-c", body], cwd=tmp_path, capture_output=True, text=True, timeout=10)
    assert shown.returncode == 0, shown.stderr
    words = shown.stdout.splitlines()
    assert words[0] == sys.executable and words[-1] == str(run_root / "train.yaml")
    assert not list(tmp_path.rglob("pwned")) and not hostile.exists()
    assert not (tmp_path / "home" / "ledger.sqlite").exists() and not (tmp_path / "runs").exists()
    assert slurm_cluster.queued() == []


def test_a_run_trains_on_slurm_and_records_job_epochs_and_checkpoints(slurm_cluster, mnist_data, tmp_path):
    _needs_slurm_job_kind()
    workdir = tmp_path / "shared runs"  # a space: sbatch reads the quoted --output and --chdir
    pipeline = _pipeline(tmp_path, mnist_data, workdir=str(workdir))
    code, out, err = _finish(_stager(tmp_path, slurm_cluster, "run", str(pipeline)))
    assert code == 0, err[-4000:]
    run_id, state = out.split()
    assert state == "succeeded"
    assert "not used on target slurm: image, compute, storage, budget" in err
    with _ledger(tmp_path) as ledger:
        record = ledger.run(run_id)
        jobs = ledger.resources_by_run()[run_id]
    assert record.state == "succeeded"
    assert [(j.kind, j.label) for j in jobs] == [("slurm_job", f"stager-{run_id}")]
    assert ledger_live_free(tmp_path, run_id)
    epochs = [e.data for e in record.events if e.kind == "train.epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1] and "val_loss" in epochs[-1]["metrics"]
    run_root = workdir / run_id
    checkpoints = [a for a in record.artifacts if a.path.startswith("checkpoints/")]
    assert checkpoints, [a.path for a in record.artifacts]
    for artifact in record.artifacts:
        assert sha256_file(run_root / artifact.path) == artifact.sha256.removeprefix("sha256:")
    metrics = (run_root / "metrics.jsonl").read_text().splitlines()
    assert any('"event": "epoch"' in line for line in metrics)
    assert "@stager " in (run_root / "logs" / "train.log").read_text()
    assert slurm_cluster.queued() == []


def ledger_live_free(folder: Path, run_id: str) -> bool:
    with _ledger(folder) as ledger:
        return ledger.live_resources(run_id) == []


def test_ctrl_c_cancels_the_job_and_aborts_the_run(slurm_cluster, mnist_data, tmp_path):
    _needs_slurm_job_kind()
    pipeline = _pipeline(tmp_path, mnist_data, epochs=500, batches=None)
    process = _stager(tmp_path, slurm_cluster, "run", str(pipeline), "--runs-dir", str(tmp_path / "runs"))
    deadline = time.monotonic() + 60
    job = None
    while time.monotonic() < deadline and process.poll() is None:
        running = slurm_cluster.command("squeue", "-h", "-t", "RUNNING", "-o", "%i").stdout.split()
        if running and list((tmp_path / "runs").rglob("slurm-*.out")):
            job = running[0]
            break
        time.sleep(0.3)
    assert job is not None, f"the job never ran: {process.communicate()[1][-3000:] if process.poll() else ''}"
    process.send_signal(signal.SIGINT)
    code, out, err = _finish(process, timeout=60)
    assert code == 130, err[-3000:]
    run_id, state = out.split()
    assert state == "aborted"
    assert f"slurm job {job} cancelled" in err
    assert job not in slurm_cluster.queued()
    with _ledger(tmp_path) as ledger:
        record = ledger.run(run_id)
    assert record.state == "aborted"
    assert any(e.kind == "slurm.cancelled" and e.data["slurm_job"] == job for e in record.events)
    assert ledger_live_free(tmp_path, run_id)



def test_a_failed_job_fails_the_run_naming_job_state_and_last_lines(slurm_cluster, mnist_data, tmp_path):
    _needs_slurm_job_kind()
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'boom: no torch on this node'\nexit 3\n")
    broken.chmod(0o755)
    pipeline = _pipeline(tmp_path, mnist_data, python=str(broken))
    code, out, err = _finish(_stager(tmp_path, slurm_cluster, "run", str(pipeline)))
    assert code == 1
    run_id, state = out.split()
    assert state == "failed"
    with _ledger(tmp_path) as ledger:
        record = ledger.run(run_id)
    reason = record.transitions[-1].reason
    assert re.match(r"slurm job \d+ FAILED \(exit code 3:0\); last lines: .*boom: no torch on this node", reason)
    assert f"run {run_id} failed: slurm job" in err
    assert ledger_live_free(tmp_path, run_id) and slurm_cluster.queued() == []

@pytest.mark.parametrize(("slurm", "expected"), [
    ({"partition": "debug", "time": "00:10:00", "gpu_per_node": 1}, r":\d+: `slurm.gpu_per_node`: unknown key"),
    ({"partition": "debug", "time": "00:10:00", "nodes": "two"}, r"`slurm.nodes`: expected a whole number"),
    ({"partition": "debug", "time": 90}, r"`slurm.time`: got the number 90.*quote it"),
    ({"partition": "debug"}, r"`slurm`: missing `slurm.time`"),
    ({"partition": "de bug", "time": "1:00"}, r"`slurm.partition`: invalid partition name"),
    ({"partition": "debug", "time": "1:00", "extra_sbatch": ["--output=/tmp/x"]}, r"--output is set by stager"),
    ({"partition": "debug", "time": "1:00", "extra_sbatch": ["mem 4G"]}, r"`slurm.extra_sbatch.0`: not an sbatch"),
])
def test_bad_slurm_sections_are_one_line_errors(slurm, expected, mnist_data, tmp_path):
    from stager.errors import ConfigError
    from stager.pipeline import load_pipeline

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "target": "slurm", "slurm": slurm,
                                    "train": {"model": {"class_path": "stager.examples.mnist.MLP"}}}))
    with pytest.raises(ConfigError) as raised:
        load_pipeline(path, check_train=False)
    assert re.search(expected, str(raised.value)) and "\n" not in str(raised.value)
    assert str(raised.value).startswith(str(path))


def test_a_bad_section_exits_2_with_one_line(slurm_cluster, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: bad\ntarget: slurm\nslurm:\n  partition: debug\n  time: '1:00'\n  nodes: 0\n"
                    "train: {model: {class_path: stager.examples.mnist.MLP}}\n")
    code, out, err = _finish(_stager(tmp_path, slurm_cluster, "run", str(path)))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{path}:6: `slurm.nodes`: must be at least 1" in lines[0], err
    assert slurm_cluster.queued() == []
