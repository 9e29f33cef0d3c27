"""How the nodes of a multi-node run find each other: addresses, the rendezvous, the torchrun line.

Every node runs the same detached job as a single-node run, under torchrun::

    python -m torch.distributed.run --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d
        --rdzv-endpoint 192.168.128.5:29400 --rdzv-id <run id> --rdzv-conf is_host=true
        --local-addr 192.168.128.5 --max-restarts 0 -m stager.run.agent job.json

Ranks are deterministic: torch's c10d rendezvous numbers the nodes in the order
of their ``--local-addr`` (as strings), so the nodes are numbered in that order
too, and node 0, the first, hosts the rendezvous store (``is_host=true``; the
others ``false``: on one machine, as on the local target, guessing the host from
the hostname would pick several). Node 0 is thus group rank 0, whose process 0
is global rank 0: the one that reports metrics and pushes checkpoints.
(``--node-rank`` is ignored by the c10d backend, so it is not given.)
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from stager.cloud import InstanceInfo
from stager.errors import UsageError
from stager.remote.quoting import command, with_env
from stager.run.job import HOME_DIR, JOB_FILE, InstanceJob

__all__ = ["ADDRESSES_COMMAND", "LINODE_RENDEZVOUS_PORT", "NodeLaunch", "check_nodes", "interface_for", "node_address",
           "node_order", "procs_per_node", "rendezvous_port", "torchrun_command"]

LINODE_RENDEZVOUS_PORT = 29400  # torchrun's usual c10d port; each node is its own machine on Linode


@dataclass(frozen=True)
class NodeLaunch:
    """What one node's torchrun needs to join the run's rendezvous."""

    nodes: int  # how many instances train together
    procs_per_node: int  # processes per node: the plan's GPUs, or 1 on CPU
    endpoint: str  # node 0's private address
    port: int  # the rendezvous port on node 0
    rdzv_id: str  # the run id: one rendezvous per run
    index: int  # this node's number, 0 .. nodes - 1
    address: str  # this node's private address
    interface: str | None = None  # the network interface holding ``address`` (`interface_for`), when known

    @property
    def is_host(self) -> bool:
        return self.index == 0


def node_address(info: InstanceInfo, *, sandboxed: bool) -> str:
    """The address other nodes reach ``info`` at: its private IPv4 on Linode; on the local target, where
    every sandbox shares this machine's loopback, the loopback address it listens on.

    Raises:
        UsageError: the instance has no private address (it was created without ``private_ip``).
    """
    if sandboxed:
        return info.ipv4
    if not info.private_ipv4:
        raise UsageError(f"instance {info.id} has no private IPv4 address, which the nodes of a run talk over")
    return info.private_ipv4


def node_order(addresses: list[str]) -> list[int]:
    """The positions of ``addresses`` in node order (c10d's rank order: the addresses as sorted strings)."""
    return sorted(range(len(addresses)), key=lambda i: addresses[i])


def rendezvous_port(*, sandboxed: bool, turn: int = 0) -> int:
    """29400 on Linode (29400 + ``turn`` % 100 for the ``turn``-th job on the same nodes, so a job never
    waits for the last one's port to leave TIME_WAIT); on the local target, where all nodes share this
    machine's ports, a free one."""
    if not sandboxed:
        return LINODE_RENDEZVOUS_PORT + turn % 100
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def torchrun_command(job: InstanceJob, python: str, launch: NodeLaunch) -> str:
    """The detached job of one node: torchrun (``python -m torch.distributed.run``, the image's own torch)
    starting ``stager.run.agent`` in each of the node's processes. Every argument is shell-quoted; no
    secret is on the line (the key is read from the run's ``.stager`` folder)."""
    if launch.nodes < 2 or not 0 <= launch.index < launch.nodes or launch.procs_per_node < 1:
        raise ValueError(f"a node launch needs nodes >= 2, 0 <= index < nodes and procs >= 1: {launch}")
    env = {"STAGER_HOME": HOME_DIR, "AWS_REGION": job.signing_region, "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "1"}
    if launch.interface is not None:
        # gloo binds to whatever the hostname resolves to (a Linode's is "localhost" unless set), and NCCL to
        # the first interface it likes: both are pointed at the interface that holds the node's address.
        env |= {"GLOO_SOCKET_IFNAME": launch.interface, "NCCL_SOCKET_IFNAME": launch.interface}
    return with_env(env, command(
        python, "-m", "torch.distributed.run",
        "--nnodes", str(launch.nodes), "--nproc-per-node", str(launch.procs_per_node),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"{_host(launch.endpoint)}:{launch.port}",
        "--rdzv-id", launch.rdzv_id, "--rdzv-conf", f"is_host={'true' if launch.is_host else 'false'}",
        "--local-addr", launch.address, "--max-restarts", "0",
        "-m", "stager.run.agent", JOB_FILE))


ADDRESSES_COMMAND = "ip -o -4 addr show"  # one line per IPv4 address: "<n>: <iface>    inet <addr>/<len> ..."
_ADDRESS_LINE = re.compile(r"^\d+:\s+([A-Za-z0-9_.@:-]+?)(?:@\S+)?\s+inet\s+(\S+)")
_INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")  # what Linux allows, minus what a shell might read


def interface_for(address: str, listing: str) -> str | None:
    """The interface holding ``address`` in ``listing`` (the output of `ADDRESSES_COMMAND` on the node): the one
    with that very address, else the one whose network contains it (a sandbox's 127.x on ``lo``); None when no
    interface matches."""
    try:
        wanted = ipaddress.ip_address(address)
    except ValueError:
        return None
    containing = None
    for line in listing.splitlines():
        match = _ADDRESS_LINE.match(line.strip())
        if match is None or not _INTERFACE_NAME.match(match.group(1)):
            continue
        try:
            network = ipaddress.ip_interface(match.group(2))
        except ValueError:
            continue
        if network.ip == wanted:
            return match.group(1)
        if containing is None and wanted in network.network:
            containing = match.group(1)
    return containing


def procs_per_node(gpus: int, *, sandboxed: bool) -> int:
    """One process per GPU of the plan; one on a CPU plan, and on the local target (no GPUs there)."""
    return 1 if sandboxed or gpus < 1 else gpus


def _host(address: str) -> str:
    """An address as the host part of ``host:port`` (IPv6 in brackets)."""
    if ":" in address and not address.startswith("["):
        return f"[{address}]"
    return address


def check_nodes(spec) -> None:
    """Refuse what several nodes cannot do, before anything is paid for.

    Raises:
        UsageError: a dataset on a Block Storage volume (a volume attaches to one instance).
    """
    if spec.compute.nodes > 1 and spec.data and spec.storage.via == "volume":
        raise UsageError(f"{spec.path}: storage.via: volume with compute.nodes: {spec.compute.nodes}: a volume "
                         "attaches to one instance; use storage.via: object-storage (each node pulls the datasets)")
