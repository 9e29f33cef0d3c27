"""A sprint's experiments on several nodes (``compute.nodes: N``): groups of N instances, one experiment at a time.

The planner (`stager.sprint.plan`) packs such a sprint onto *groups*: N
instances of one plan, booted together, billed N times, with a single lane,
because each experiment trains on every GPU of every node under torchrun, as a
multi-node `stager run` does (`stager.run.multinode`). `NodeGroups`, mixed into
`stager.sprint.runner.SprintRunner`, boots a group and trains one experiment on
it; the runner serves the lane, the budget and the halving as for one instance.

- The sprint's one firewall admits all TCP between the nodes of each living
  group (their private and public addresses), besides SSH from this machine;
  a released group's addresses are taken out again.
- Each experiment is its own rendezvous (its run id), on its own port.
- A node whose job fails stops the experiment on every node (it is recorded
  ``failed``; the lane goes on); a lost node replaces the whole group once.
"""

from __future__ import annotations

from collections.abc import Callable

from stager.cloud import InstanceInfo
from stager.errors import StagerError
from stager.run.fleet import CreateGate
from stager.run.guard import InstanceLost, Rented, billed_usd

__all__ = ["NodeGroups"]


class NodeGroups:
    """Booting a group of nodes and training one experiment on it (mixed into `SprintRunner`)."""

    def _boot_group(self, inst, role: str, access, hourly: float,
                    monthly: float) -> tuple[list[InstanceInfo], list[str], Rented]:
        """Boot ``inst``'s N nodes at once and admit them to each other; their infos and addresses in node
        order, and one `Rented` for the group (N times the price, from the first node's creation).

        Raises:
            Whatever a boot raises; the group's nodes that did boot are deleted (and billed) first.
        """
        from stager.run import instance
        from stager.run.multinode import peer_addresses, provision_nodes
        from stager.sprint.runner import _deadline_for

        spec, plan = self.spec, inst.plan.plan
        booted: list[Rented] = []
        created: list[int] = []

        def boot(label: str, gate: CreateGate) -> InstanceInfo:
            def record(info: InstanceInfo) -> None:
                created.append(info.id)
                self._created("instance", info.id, info.label, plan=plan, hourly=hourly, monthly=monthly)

            info = instance.provision(
                self.cloud, run_id=self.run_id, plan=plan, region=spec.compute.region, image_id=self.image_id,
                access=access, ttl=_deadline_for(self.sprint_plan), boot_timeout=self.options.boot_timeout,
                record=record, forget=lambda iid: self._deleted("instance", iid), say=self.say, role=label,
                private_ip=True, gate=gate)
            booted.append(Rented(info.id, info.created or self.cloud.now(), hourly))
            return info

        try:
            infos, addresses = provision_nodes(self.cloud, spec.compute.nodes, sandboxed=self.target.sandboxed,
                                               role=f"{role}n", boot=boot, parent=self._gate)
            self._admit_peers(inst, peer_addresses(infos, addresses), access)
        except BaseException:
            with self._lock:
                self.spent_usd += billed_usd(booted, self.cloud.now()) if booted else 0.0
            for instance_id in created:
                self._release_instance(instance_id)
            raise
        self.say("group of instance " + str(inst.plan.index + 1) + ": " + ", ".join(
            f"node {k} = instance {info.id} at {address}" for k, (info, address) in enumerate(zip(infos, addresses))))
        first = min((r.created for r in booted), default=self.cloud.now())
        return infos, addresses, Rented(infos[0].id, first, round(hourly * len(infos), 6))

    def _admit_peers(self, inst, peers: list[str], access) -> None:
        with self._lock:
            self._peers[id(inst)] = peers
            self.cloud.admit_peers(access.firewall_id, ssh_from=access.ssh_from,
                                   peers=sorted({a for group in self._peers.values() for a in group}))

    def _forget_peers(self, inst) -> None:
        """Take a released group's addresses out of the firewall (Linode may give them to someone else)."""
        from stager.run.engine import _safe

        with self._lock:
            access = getattr(self, "_run_access", None)
            if self._peers.pop(id(inst), None) is None or access is None:
                return
            left = sorted({a for group in self._peers.values() for a in group})
        _safe(lambda: self.cloud.admit_peers(access.firewall_id, ssh_from=access.ssh_from, peers=left))

    def _train_group(self, inst, remotes, layouts, *, job, config_file, workdir: str, access,
                     check: Callable[[], None], say: Callable[[str], None]) -> tuple[int | None, str | None]:
        """Train one experiment on every node of ``inst``; its exit code (None when stopped) and why it was
        stopped (None when it was not).

        Raises:
            NodeFailed: a node's job ended badly (every node's job was stopped); InstanceLost: a node is gone;
            StagerError: the jobs could not be started (those that were are stopped).
        """
        from stager.run.multinode import follow_nodes, start_nodes
        from stager.run.nodes import procs_per_node, rendezvous_port

        sandboxed = self.target.sandboxed
        procs = procs_per_node(self.spec.compute.gpus_per_node or 0, sandboxed=sandboxed)
        try:
            jobs = start_nodes(remotes, layouts, inst.addresses, job=job, config_file=config_file, access=access,
                               workdir=workdir, port=rendezvous_port(sandboxed=sandboxed, turn=len(inst.served)),
                               procs=procs, resume_file=None, say=say, infos=inst.nodes)
        except StagerError as exc:
            gone = [(k, info.id) for k, info in enumerate(inst.nodes) if self.cloud.get_instance(info.id) is None]
            if gone:
                k, instance_id = gone[0]
                raise InstanceLost(f"instance {instance_id} (node {k}) disappeared ({exc})") from None
            raise
        code, stop = follow_nodes(remotes, jobs, inst.nodes, check=check, cloud=self.cloud, say=say,
                                  reconnect_timeout=self.options.reconnect_timeout)
        return code, stop.reason if stop is not None else None
