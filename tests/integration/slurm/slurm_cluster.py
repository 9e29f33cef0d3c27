"""A one-node SLURM cluster on this machine, for the tests of ``target: slurm``.

Its own munge key and ``munged`` (socket, log and seed in a temp folder), a
minimal ``slurm.conf`` (this machine's short hostname as the one node, free
ports, state and spool in the temp folder, no accounting database) and
``slurmctld -D`` and ``slurmd -D`` as background processes. Commands reach it
through ``SLURM_CONF``. Without slurmdbd, ``sacct`` has no data: the follower
under test falls back to ``scontrol show job``, which is the point.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")


class ClusterUnavailable(Exception):
    """The cluster could not be started here; the message names what failed."""


@dataclass
class SlurmCluster:
    root: Path
    hostname: str
    conf: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Variables a process needs to use this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def command(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env={**os.environ, **self.env()}, capture_output=True, text=True,
                              timeout=timeout)

    def queued(self) -> list[str]:
        """Ids of the jobs squeue lists."""
        out = self.command("squeue", "-h", "-o", "%i").stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def logs(self) -> str:
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()


def start_cluster(root: Path, *, timeout: float = 30) -> SlurmCluster:
    """Start munged, slurmctld and slurmd under ``root``; wait until the node is idle.

    Raises:
        ClusterUnavailable: a binary is missing, this is not root, or a daemon did not come up.
    """
    missing = [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None
               and not Path("/usr/sbin", name).exists()]
    if missing:
        raise ClusterUnavailable(f"SLURM/munge binaries missing: {', '.join(missing)} "
                                 "(apt-get install -y --no-install-recommends slurm-wlm munge)")
    if os.geteuid() != 0:
        raise ClusterUnavailable("the test cluster's daemons must run as root")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    hostname = socket.gethostname().split(".")[0]
    cluster = SlurmCluster(root, hostname, root / "slurm.conf")
    try:
        _start_munge(cluster)
        _write_conf(cluster)
        for daemon in ("slurmctld", "slurmd"):
            log = open(root / f"{daemon}.out", "w")  # noqa: SIM115 - the daemon holds it
            cluster.processes.append(subprocess.Popen(
                [_binary(daemon), "-D", "-f", str(cluster.conf)], env={**os.environ, **cluster.env()},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        _wait_idle(cluster, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _start_munge(cluster: SlurmCluster) -> None:
    root = cluster.root
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    cluster.processes.append(subprocess.Popen(
        [_binary("munged"), "--foreground", "--force", f"--socket={root / 'munge.socket'}", f"--key-file={key}",
         f"--log-file={root / 'munged.log'}", f"--pid-file={root / 'munged.pid'}",
         f"--seed-file={root / 'munged.seed'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True))
    deadline = time.monotonic() + 10
    while not (root / "munge.socket").exists():
        munged = cluster.processes[-1]
        if munged.poll() is not None:
            raise ClusterUnavailable(f"munged exited: {munged.stderr.read().decode(errors='replace')[-500:]}")
        if time.monotonic() > deadline:
            raise ClusterUnavailable("munged did not create its socket within 10 s")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_conf(cluster: SlurmCluster) -> None:
    root = cluster.root
    for folder in ("state", "spool"):
        (root / folder).mkdir(exist_ok=True)
    host = cluster.hostname
    cluster.conf.write_text("\n".join([
        "ClusterName=stagertest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root / 'munge.socket'}",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerType=sched/builtin",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "MinJobAge=600",
        "KillWait=2",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=30",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory=1000 State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        "",
    ]))


def _wait_idle(cluster: SlurmCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for process in cluster.processes:
            if process.poll() is not None:
                raise ClusterUnavailable(f"{Path(process.args[0]).name} exited with {process.returncode}:\n"
                                         f"{cluster.logs()}")
        result = cluster.command("sinfo", "-h", "-N", "-o", "%t")
        last = (result.stdout + result.stderr).strip()
        if result.returncode == 0 and last.split() and all(s.startswith("idle") for s in last.split()):
            return
        time.sleep(0.3)
    raise ClusterUnavailable(f"the node was not idle within {timeout:.0f} s (sinfo: {last!r}):\n{cluster.logs()}")
