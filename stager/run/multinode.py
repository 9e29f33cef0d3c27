"""Training on several instances (``compute.nodes: N``): provision them, train under torchrun, collect, stop.

The nodes boot at once (`stager.run.fleet`) and are numbered in the order torch's c10d rendezvous ranks them
(``stager.run.nodes``), so node 0 is global rank zero: its report lines drive
the progress line, the metrics and the ledger, its ``out/`` is collected, and it
pushes the checkpoints. Every node's lines go to the train log and the console
as ``[node k] ...``. The run's firewall admits all TCP between the nodes'
private addresses, besides SSH from the controller.

Node 0 is followed in the calling thread (where the ledger and the budget guard
live), the others in threads of their own. When any node's job ends badly, or
an instance disappears, or the budget runs out, every node's job is stopped;
the checkpoints pushed so far are pulled, and the engine's teardown deletes
every node.

`provision_nodes`, `start_nodes`, `follow_nodes` and `stop_nodes` also serve a
sprint's multi-node experiments (`stager.sprint.nodegroup`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from functools import partial

from stager.cloud import InstanceInfo
from stager.errors import JobFailed, StagerError
from stager.remote.quoting import command
from stager.run.fleet import CreateGate, boot_all
from stager.run.guard import BudgetStop, InstanceLost, Rented, RunGuard, billed_usd
from stager.run.job import JOB_FILE, JOB_NAME, config_text, job_file, remote_workdir
from stager.run.nodes import (
    ADDRESSES_COMMAND,
    NodeLaunch,
    interface_for,
    node_address,
    node_order,
    procs_per_node,
    rendezvous_port,
    torchrun_command,
)

__all__ = ["NodeFailed", "follow_nodes", "nodes_config", "peer_addresses", "provision_nodes", "start_nodes",
           "stop_nodes", "train_on_nodes"]

STOP_GRACE_S = 30.0  # how long a node's job may take to stop after SIGTERM before it is killed


class NodeFailed(JobFailed):
    """A node's job ended badly (or could no longer be followed) while the others trained."""

    def __init__(self, node: int, instance_id: int, what: str) -> None:
        super().__init__(f"node {node} (instance {instance_id}) {what}")
        self.node = node


def nodes_config(config: dict, nodes: int) -> dict:
    """The trainer config of a multi-node run: ``trainer.num_nodes`` set, DDP unless a strategy was chosen."""
    trainer = dict(config.get("trainer") or {})
    trainer["num_nodes"] = nodes
    if str(trainer.get("strategy") or "auto").lower() == "auto":
        trainer["strategy"] = "ddp"
    return {**config, "trainer": trainer}


class _Follower(threading.Thread):
    """Follows one node (not node 0) to its job's end; ``outcome`` is the exit code or the error."""

    def __init__(self, remote, job, *, stopping: threading.Event, reconnect_timeout: float) -> None:
        super().__init__(daemon=True)
        self.remote, self.job, self.stopping, self.reconnect_timeout = remote, job, stopping, reconnect_timeout
        self.outcome: int | BaseException | None = None

    def run(self) -> None:
        try:
            self.outcome = self.remote.follow(self.job, on_poll=self._poll, reconnect_timeout=self.reconnect_timeout)
        except _Stopping:
            self.outcome = None
        except BaseException as exc:  # noqa: BLE001 - handed to the controller's thread, which decides
            self.outcome = exc

    def _poll(self) -> None:
        if self.stopping.is_set():
            raise _Stopping()


class _Stopping(Exception):
    """Raised in a follower when the run stops its nodes."""


def provision_nodes(cloud, count: int, *, sandboxed: bool, role: str, boot: Callable[[str, CreateGate], InstanceInfo],
                    parent: CreateGate | None = None) -> tuple[list[InstanceInfo], list[str]]:
    """Boot ``count`` instances at once (``boot(role, gate)``, e.g. `stager.run.instance.provision` with
    ``private_ip``), labelled ``<role><k>``; return them and their addresses, in node order. ``parent``: a
    gate that stops these creations too (`stager.run.fleet.boot_all`)."""
    infos = boot_all(count, lambda k, gate: boot(f"{role}{k}", gate), parent)
    addresses = [node_address(info, sandboxed=sandboxed) for info in infos]
    order = node_order(addresses)
    return [infos[i] for i in order], [addresses[i] for i in order]


def peer_addresses(infos: list[InstanceInfo], addresses: list[str]) -> list[str]:
    """What the firewall admits between nodes: NCCL and gloo pick their own interface, and a Linode's private
    address sits beside its public one on eth0, so the collectives may come from either."""
    return [*addresses, *(info.ipv4 for info in infos)]


def start_nodes(remotes, layouts, addresses: list[str], *, job, config_file, access, workdir: str, port: int,
                procs: int, resume_file, say: Callable[[str], None], infos: list[InstanceInfo]) -> list:
    """Start the detached torchrun job on every node (rendezvous id: the job's run id); their handles."""
    from stager.run import instance

    jobs = []
    try:
        for k, (remote, layout) in enumerate(zip(remotes, layouts)):
            launch = NodeLaunch(nodes=len(remotes), procs_per_node=procs, endpoint=addresses[0], port=port,
                                rdzv_id=job.run_id, index=k, address=addresses[k],
                                interface=_interface(remote, addresses[k], k, say))
            started = instance.start_job(remote, workdir=workdir, command_line=torchrun_command(
                job, layout.python, launch), job=job, config_file=config_file, access=access,
                resume_file=resume_file)
            say(f"node {k}: training started on instance {infos[k].id} (detached job, pid {started.pid})")
            jobs.append(started)
    except BaseException:
        # The nodes already started would wait for the others at the rendezvous (for minutes, holding their GPUs).
        for k, (remote, started) in enumerate(zip(remotes, jobs)):
            _quietly(say, f"stopping node {k}'s job", lambda r=remote, j=started: _kill_group(r, j))
        raise
    return jobs


def _interface(remote, address: str, k: int, say: Callable[[str], None]) -> str | None:
    """The interface holding node ``k``'s ``address``, for gloo and NCCL to bind to; None (torch chooses) when
    the node cannot tell (no ``ip`` there, or no interface holds it).

    Raises:
        StagerError: the node cannot be reached.
    """
    listing = remote.run(ADDRESSES_COMMAND, check=False, stream=False, display="list the node's addresses").stdout
    interface = interface_for(address, listing)
    if interface is None:
        say(f"node {k}: no network interface holds {address}; gloo and NCCL choose their own")
    return interface


def train_on_nodes(engine, plan: str) -> None:
    """The provisioning, training and collecting stages of ``engine``'s run on ``compute.nodes`` instances."""
    from stager.image.layout import detect_layout
    from stager.remote import Remote
    from stager.run import instance
    from stager.run.engine import _deadline, _Stop
    from stager.run.progress import TrainingProgress

    spec = engine.spec
    count = spec.compute.nodes
    sandboxed = engine.target.sandboxed
    if engine.state != "provisioning":
        engine._move("provisioning")
    hourly, monthly = engine._price(plan)
    access = engine._access()
    ttl = _deadline(spec.budget.max_hours)

    def boot(role: str, gate: CreateGate) -> InstanceInfo:
        info = instance.provision(
            engine.cloud, run_id=engine.run_id, plan=plan, region=spec.compute.region, image_id=engine.image_id,
            access=access, ttl=ttl, boot_timeout=engine.options.boot_timeout, gate=gate,
            record=lambda i: engine._created("instance", i.id, i.label, plan=plan, hourly=hourly, monthly=monthly),
            forget=lambda iid: engine._deleted("instance", iid), say=engine.say, role=role, private_ip=True)
        engine.rented.append(Rented(info.id, info.created or engine.cloud.now(), hourly))
        return info

    infos, addresses = provision_nodes(engine.cloud, count, sandboxed=sandboxed, role="node", boot=boot)
    engine.cloud.admit_peers(access.firewall_id, ssh_from=access.ssh_from, peers=peer_addresses(infos, addresses))
    engine.say("nodes: " + ", ".join(f"node {k} = instance {info.id} at {address}"
                                     for k, (info, address) in enumerate(zip(infos, addresses))))
    node_ids = {info.id for info in infos}
    progress = TrainingProgress(train_log=engine.folder.train_log, metrics=engine.folder.metrics, say=engine.say,
                                dollars=lambda: guard.dollars, on_record=engine._on_record)
    rented = [r for r in engine.rented if r.instance_id in node_ids]
    guard = RunGuard(engine.cloud, rented, max_usd=spec.budget.max_usd, max_hours=spec.budget.max_hours,
                     spent_before=engine.spent_usd + billed_usd([r for r in engine.rented if r not in rented],
                                                                engine.cloud.now()),
                     every_s=engine.options.guard_every_s)
    workdir = remote_workdir(engine.run_id)
    try:
        with contextlib.ExitStack() as stack:
            remotes = [stack.enter_context(Remote(instance.ssh_target(info, access), log_file=engine.folder.remote_log,
                                                  on_line=partial(progress.node_line, k)))
                       for k, info in enumerate(infos)]
            layouts = []
            for k, (remote, info) in enumerate(zip(remotes, infos)):
                remote.wait_until_ready(timeout=engine.options.boot_timeout)
                engine.say(f"SSH to node {k} (instance {info.id}) answers with the pinned host key")
                engine.ledger.event(engine.run_id, "instance.ready", {"instance": info.id, "plan": plan, "node": k})
                layouts.append(detect_layout(remote, sandboxed))
            job = engine._job(False, {})
            config = nodes_config(engine._instance_config(job, False), count)
            config_file = engine.folder.write_text("train.yaml", config_text(config))
            engine.folder.write_json(JOB_FILE, job_file(job))
            resume_file = engine._resume_checkpoint() if job.resume_from else None
            engine._move("training")
            procs = procs_per_node(spec.compute.gpus_per_node or 0, sandboxed=sandboxed)
            engine.ledger.event(engine.run_id, "train.started", {
                "instance": infos[0].id, "instances": [info.id for info in infos], "plan": plan, "nodes": count,
                "procs_per_node": procs, "rehearsal": False})
            jobs = start_nodes(remotes, layouts, addresses, job=job, config_file=config_file, access=access,
                               workdir=workdir, port=rendezvous_port(sandboxed=sandboxed), procs=procs,
                               resume_file=resume_file, say=engine.say, infos=infos)
            code, stop = follow_nodes(remotes, jobs, infos, check=guard.check, cloud=engine.cloud, say=engine.say,
                                      reconnect_timeout=engine.options.reconnect_timeout)
            engine.ledger.event(engine.run_id, "train.ended", {"exit_code": code, "step": progress.last_step,
                                                               "rehearsal": False, "nodes": count,
                                                               "metrics": progress.final_metrics})
            engine._move("collecting")
            engine._collect(remotes[0], workdir)
    except (NodeFailed, InstanceLost) as exc:
        _keep_checkpoints(engine)
        raise JobFailed(f"{exc}; the other nodes were stopped; the checkpoints pushed so far are in "
                        f"s3://{spec.storage.outputs_bucket}/runs/{engine.run_id}/checkpoints/: continue with "
                        f"`stager run {spec.path} --resume {engine.run_id}`") from None
    finally:
        progress.close()
    if stop is not None:
        raise _Stop("aborted", stop.reason)


def follow_nodes(remotes, jobs, infos, *, check: Callable[[], None], cloud, say: Callable[[str], None],
                 reconnect_timeout: float) -> tuple[int | None, BudgetStop | None]:
    """Follow every node until all have ended well (exit code 0; None after a budget stop).

    ``check`` is called while node 0 is followed; it raises BudgetStop to stop every node, InstanceLost
    when an instance is gone.

    Raises:
        NodeFailed: a node's job ended badly, or following it failed; InstanceLost: a node disappeared.
        Every node's job has been stopped before either is raised.
    """
    stopping = threading.Event()
    followers = [_Follower(remote, job, stopping=stopping, reconnect_timeout=reconnect_timeout)
                 for remote, job in zip(remotes[1:], jobs[1:])]
    for follower in followers:
        follower.start()

    def poll() -> None:
        try:
            check()
        except InstanceLost:
            raise _lost(cloud, infos) from None
        for k, follower in enumerate(followers, start=1):
            outcome = follower.outcome
            if isinstance(outcome, BaseException):
                raise NodeFailed(k, infos[k].id, f"could not be followed: {outcome}")
            if outcome not in (None, 0):
                raise NodeFailed(k, infos[k].id, f"exited with {outcome}")

    try:
        try:
            code = remotes[0].follow(jobs[0], on_poll=poll, reconnect_timeout=reconnect_timeout)
        except StagerError as exc:
            if isinstance(exc, (NodeFailed, InstanceLost)):
                raise
            if cloud.get_instance(infos[0].id) is None:
                raise _lost(cloud, infos) from None
            raise NodeFailed(0, infos[0].id, f"could not be followed: {exc}") from None
        if code != 0:
            raise NodeFailed(0, infos[0].id, f"exited with {code}")
        while any(f.is_alive() for f in followers):  # the others end within moments of node 0
            poll()
            time.sleep(0.2)
        poll()
        return code, None
    except BudgetStop as exc:
        say(f"stopping training on every node: {exc.reason}")
        stopping.set()
        stop_nodes(remotes, jobs, infos, cloud=cloud, say=say)
        return None, exc
    except (NodeFailed, InstanceLost) as exc:
        say(f"{exc}: stopping training on every node")
        stopping.set()
        stop_nodes(remotes, jobs, infos, cloud=cloud, say=say)
        raise
    finally:
        stopping.set()
        for follower in followers:
            follower.join(timeout=STOP_GRACE_S)


def _lost(cloud, infos) -> InstanceLost:
    gone = [(k, info.id) for k, info in enumerate(infos) if cloud.get_instance(info.id) is None]
    named = ", ".join(f"node {k} (instance {iid})" for k, iid in gone) or "an instance"
    return InstanceLost(f"{named} disappeared mid-training")


def stop_nodes(remotes, jobs, infos, *, cloud, say: Callable[[str], None], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every live node's job (the trainer keeps its last checkpoint), SIGKILL what is left after
    ``grace_s``, then sweep each job's process group (a killed torchrun leaves its workers behind)."""
    live = [(k, remote, job) for k, (remote, job, info) in enumerate(zip(remotes, jobs, infos))
            if cloud.get_instance(info.id) is not None]
    for k, remote, job in live:
        _quietly(say, f"stopping node {k}", lambda r=remote, j=job: r.kill(j, "TERM"))
    deadline = time.monotonic() + grace_s
    waiting = list(live)
    while waiting and time.monotonic() < deadline:
        waiting = [item for item in waiting if _running(item[1], item[2])]
        if waiting:
            time.sleep(0.5)
    for k, remote, job in live:
        _quietly(say, f"killing what is left of node {k}'s job", lambda r=remote, j=job: _kill_group(r, j))
    say(f"training stopped on node(s) {', '.join(str(k) for k, _, _ in live) or 'none'}")


def _kill_group(remote, job) -> None:
    """SIGKILL the job's whole process group (a killed torchrun leaves its workers behind)."""
    sweep = f"{command('kill', '-s', 'KILL', '--', f'-{job.pid}')} 2>/dev/null || true"
    remote.run(sweep, stream=False, display=f"kill what is left of job {JOB_NAME}")


def _running(remote, job) -> bool:
    try:
        return remote.job_status(job).running
    except StagerError:
        return False


def _quietly(say: Callable[[str], None], what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except StagerError as exc:
        say(f"{what} failed: {exc}")


def _keep_checkpoints(engine) -> None:
    """Pull the checkpoints pushed before a failure into the run folder (each verified and recorded)."""
    from stager.run.collect import pull_checkpoints

    try:
        for path, location, digest in pull_checkpoints(
                engine.s3_client, engine.spec.storage.outputs_bucket, f"runs/{engine.run_id}/checkpoints",
                engine.folder.checkpoints, say=engine.say):
            engine._artifact(path, digest, location)
    except StagerError as exc:
        engine.say(f"the checkpoints pushed so far could not be pulled: {exc}")

