"""``stager sprint run``: a sprint's plan executed with the run engine, every experiment a run in the ledger.

The sprint itself is a ledger record (id ``s...``) holding what is shared: the
datasets validated and synced once, the gold image, one firewall and one
scoped key, every instance, and the sprint's cost. Its stages are a run's
(``pending → validating → syncing → imaging → provisioning → training →
tearing_down → final``), and `stager.run.engine.RunEngine` supplies them, the
lock and the teardown that Ctrl-C and SIGTERM cannot cut short.

Each planned instance is served by a thread: it is created once, then each of
its GPU lanes runs its experiments one after another, none re-creating it.
Each experiment is a ledger run linked to the sprint (``sprint_id``), with its
own folder ``runs/<run id>/`` holding its logs, metrics and checkpoints, and
its share of its instance's bill.

- **Budget, a hard cap**: an experiment starts only when the sprint's bill, with
  the hours that experiment adds to its instance, stays within
  ``budget.max_usd``, and only when it can end before the deadline; while
  experiments train, the bill is watched by the provider's clock, and all are
  stopped (their last checkpoints kept) before the next billed hour would cross
  the budget.
- **Failures are isolated**: an experiment that fails is recorded and the lane
  goes on with the next; a lost instance is replaced once, and its remaining
  experiments go on there.
- **Successive halving** (``sprint.halving``): an experiment whose metric at a rung
  is not among the best is stopped, and its lane moves on (`stager.sprint.halving`).
- **Several nodes** (``compute.nodes: N``): each planned "instance" is a group of
  N nodes booted together, whose one lane trains each experiment on all of them
  (`stager.sprint.nodegroup`); losing any node replaces the whole group.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from stager.errors import StagerError, UsageError
from stager.run.engine import RunEngine, RunOptions, _one_line, _safe, _Stop
from stager.run.fleet import CreateGate
from stager.run.guard import BudgetStop, InstanceLost, Rented, billed_usd
from stager.sprint.experiment import ExperimentRuns, Outcome
from stager.sprint.halving import Rungs
from stager.sprint.nodegroup import NodeGroups
from stager.sprint.packing import InstancePlan
from stager.sprint.plan import SprintPlan
from stager.sprint.spec import SprintSpec

__all__ = ["Outcome", "SprintRunner"]

SECONDS_PER_HOUR = 3600
REPLACEMENTS = 1  # a lost instance is replaced once; losing the replacement too ends its experiments
BUDGET_MARGIN_S = 300.0  # stop this long before a billed hour that would cross the budget (a teardown's time)
JOIN_TIMEOUT_S = 60.0  # how long the end of a sprint waits for its lanes to stop their jobs


@dataclass
class _Instance:
    plan: InstancePlan
    nodes: list = field(default_factory=list)  # every node's InstanceInfo once created, in node order
    addresses: list[str] = field(default_factory=list)  # the nodes' addresses for torchrun, in node order
    rented: Rented | None = None
    committed_until: datetime | None = None  # the latest end of an experiment started on it
    reserved_usd: float = 0.0  # its first billed hour, counted from the moment it may be created until it is
    served: list[Outcome] = field(default_factory=list)

    @property
    def info(self):
        """The instance (node 0, for a group of nodes); None before it is created."""
        return self.nodes[0] if self.nodes else None


class SprintRunner(NodeGroups, ExperimentRuns, RunEngine):
    ID_KIND = "s"

    def __init__(self, sprint: SprintSpec, sprint_plan: SprintPlan, target, ledger, run_plan,
                 options: RunOptions) -> None:
        super().__init__(sprint.pipeline, target, ledger, run_plan, options)
        self.sprint = sprint
        self.sprint_plan = sprint_plan
        self.outcomes = {e.name: Outcome(e.name) for e in sprint.experiments}
        self.rungs = Rungs(sprint.halving) if sprint.halving else None
        self.stopping: str | None = None  # why nothing more may start (the budget, an interrupt)
        self._halt = threading.Event()  # stop the jobs that train now, too
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._instances: list[_Instance] = []  # every instance rented so far, alive or released
        self._trained = False
        self._deadline: datetime | None = None  # the plan's deadline on the provider's clock, set at the start
        self._peers: dict[int, list[str]] = {}  # each living group's addresses, which the firewall admits
        self._gate = CreateGate()  # closed when the sprint stops: no instance is created after that

    # -- the record -------------------------------------------------------------------------------

    def _open_record(self) -> None:
        from stager.run.provenance import git_state, versions

        spec, plan = self.spec, self.sprint_plan
        self.folder.write_text("pipeline.yaml", spec.to_redacted_yaml())
        self.folder.write_json("plan.json", plan.to_json())
        self._versions, self._git = versions(), git_state(spec.path.parent)
        self.ledger.create_run(pipeline=spec.name, pipeline_file=str(spec.path), target=spec.target,
                               spec=spec.to_redacted_dict(), versions=self._versions, git=self._git,
                               run_id=self.run_id)
        self.ledger.event(self.run_id, "sprint.planned", {
            "experiments": len(self.sprint.experiments), "total_usd": plan.total_usd, "naive_usd": plan.naive_usd,
            "instances": [{"plan": i.plan, "experiments": [p.job for p in i.placements]}
                          for i in plan.packing.instances],
            "unplaced": [{"experiment": u.job, "reason": u.reason} for u in plan.packing.unplaced]})
        self.ledger.cost(self.run_id, estimated_usd=plan.total_usd)
        self.say(f"sprint {self.run_id} ({spec.name}, {len(self.sprint.experiments)} experiments on {spec.target}); "
                 f"folder {self.folder.root}")
        self.say(f"planned: {len(plan.packing.instances)} instance(s), {plan.packing.billed_hours} billed h, "
                 f"${plan.total_usd:.2f} (naive ${plan.naive_usd:.2f})")
        self._write_status()

    def _write_status(self, reason: str | None = None) -> None:
        with self._lock:
            self.folder.write_json("run.json", {
                "sprint_id": self.run_id, "pipeline": self.spec.name, "target": self.spec.target,
                "state": self.state, "reason": reason, "image": self.image_id,
                "resources": [{"kind": c.kind, "id": c.id, "label": c.label} for c in self.created],
                "estimated_usd": self.sprint_plan.total_usd,
                "experiments": {o.name: {"run_id": o.run_id, "state": o.state, "reason": o.reason}
                                for o in self.outcomes.values()},
            })

    def _created(self, *args, **kwargs) -> None:
        with self._lock:
            super()._created(*args, **kwargs)

    def _deleted(self, *args, **kwargs) -> None:
        with self._lock:
            super()._deleted(*args, **kwargs)

    # -- the stages -------------------------------------------------------------------------------

    def _stages(self) -> None:
        if not self.sprint_plan.packing.instances:
            raise UsageError(f"{self.spec.path}: nothing can be planned: "
                             + "; ".join(f"{u.job}: {u.reason}" for u in self.sprint_plan.packing.unplaced[:3]))
        self._prepare()
        for left in self.sprint_plan.packing.unplaced:
            self._never_started(left.job, f"not planned: {left.reason}")
        self._move("provisioning")
        plan = self.sprint_plan
        if plan.deadline is not None:  # the same span on the provider's clock, which bills
            self._deadline = self.cloud.now() + (plan.deadline - plan.start)
        for inst in plan.packing.instances:
            thread = threading.Thread(target=self._serve_instance, args=(_Instance(inst),),
                                      name=f"sprint-instance-{inst.index + 1}", daemon=True)
            self._threads.append(thread)
            thread.start()
        while any(t.is_alive() for t in self._threads):
            time.sleep(0.2)  # the main thread stays free for Ctrl-C and SIGTERM
        if self.stopping:
            raise _Stop("aborted", self.stopping)
        if not any(o.state == "succeeded" for o in self.outcomes.values()):
            states = ", ".join(f"{o.name} {o.state}" for o in self.outcomes.values())
            raise _Stop("failed", f"no experiment succeeded ({states}); see each one's reason with "
                                  f"`stager sprint status {self.run_id}`")
        self._move("tearing_down")

    # -- one instance: created once, its lanes served in turn --------------------------------------

    def _serve_instance(self, inst: _Instance) -> None:
        queues = {gpu: [p.job for p in sorted(inst.plan.placements, key=lambda p: p.start_h) if p.gpu == gpu]
                  for gpu in range(inst.plan.gpus)}
        for attempt in range(REPLACEMENTS + 1):
            if not any(queues.values()):
                return
            reason = self._may_rent(inst)
            if reason is not None:
                self._skip_all(queues, reason)
                return
            try:
                lost = self._one_instance(inst, queues, attempt)
            except Exception as exc:  # noqa: BLE001 - one instance's failure must not stop the others
                inst.reserved_usd = 0.0
                self.say(f"instance {inst.plan.index + 1} could not serve its experiments: {exc}")
                self._skip_all(queues, f"its instance failed: {exc}")
                return
            if not lost:
                return
            if attempt < REPLACEMENTS and not self._halt.is_set():
                self.say(f"instance {inst.plan.index + 1} was lost: replacing it for its remaining experiments")
        self._skip_all(queues, "its instance was lost twice")

    def _one_instance(self, inst: _Instance, queues: dict[int, list[str]], attempt: int) -> bool:
        """Create the instance, serve its lanes until they are empty or it is lost; True when it was lost."""
        from stager.image.layout import detect_layout
        from stager.remote import Remote
        from stager.run import instance

        spec = self.spec
        plan = inst.plan.plan
        hourly, monthly = self._price(plan)
        access = self._access_once()
        role = f"i{inst.plan.index + 1}" + (f"r{attempt}" if attempt else "")
        if spec.compute.nodes > 1:
            infos, addresses, rented = self._boot_group(inst, role, access, hourly, monthly)
        else:
            info = instance.provision(
                self.cloud, run_id=self.run_id, plan=plan, region=spec.compute.region, image_id=self.image_id,
                access=access, ttl=_deadline_for(self.sprint_plan), boot_timeout=self.options.boot_timeout,
                record=lambda i: self._created("instance", i.id, i.label, plan=plan, hourly=hourly, monthly=monthly),
                forget=lambda iid: self._deleted("instance", iid), say=self.say, role=role, gate=self._gate)
            infos, addresses = [info], []
            rented = Rented(info.id, info.created or self.cloud.now(), hourly)
        with self._lock:
            inst.nodes, inst.addresses = infos, addresses
            inst.rented = rented
            inst.reserved_usd = 0.0
            self.rented.append(inst.rented)
        lost = False
        try:
            for volume in self.volumes.values():  # never with several nodes (stager.run.nodes.check_nodes)
                self.cloud.attach_volume(volume.id, infos[0].id)
            layouts, mounts = [], {}
            for k, info in enumerate(infos):
                with Remote(instance.ssh_target(info, access), log_file=self.folder.remote_log) as remote:
                    remote.wait_until_ready(timeout=self.options.boot_timeout)
                    layouts.append(detect_layout(remote, self.target.sandboxed))
                    if k == 0:
                        mounts = instance.mount_volumes(remote, layouts[0], list(self.volumes.values()),
                                                        say=self.say)
                self.ledger.event(self.run_id, "instance.ready", {"instance": info.id, "plan": plan}
                                  | ({"node": k} if len(infos) > 1 else {}))
            self.say(f"instance {infos[0].id} ({plan}) ready: {inst.plan.gpus} lane(s)" if len(infos) == 1 else
                     f"instances {', '.join(str(i.id) for i in infos)} ({len(infos)} nodes x {plan}) ready")
            self._mark_training()
            results: dict[int, bool] = {}
            lanes = [threading.Thread(target=lambda g=gpu: results.__setitem__(
                g, self._serve_lane(inst, g, queues[g], access, layouts, mounts)), name=f"{role}-gpu{gpu}",
                daemon=True) for gpu in queues if queues[gpu]]
            for lane in lanes:
                lane.start()
            for lane in lanes:
                lane.join()
            lost = any(results.values())
        finally:
            self._release(inst)
        return lost

    def _serve_lane(self, inst: _Instance, gpu: int, queue: list[str], access, layouts, mounts) -> bool:
        """Run the lane's experiments in turn; True when the instance was lost (the queue keeps the rest)."""
        while queue:
            if self.stopping or self._halt.is_set():
                self._skip_all({gpu: queue}, f"not started: {self.stopping or 'the sprint is stopping'}")
                return False
            name = queue[0]
            reason = self._may_start(inst, name)
            if reason is not None:
                self._skip_all({gpu: queue}, f"not started: {reason}")
                return False
            queue.pop(0)
            try:
                self._run_experiment(name, inst, gpu, access, layouts, mounts)
            except InstanceLost:
                return True
        return False

    # -- money and time before anything starts -------------------------------------------------------

    def _bill_if(self, extend: _Instance | None, until: datetime | None, now: datetime) -> float:
        """The sprint's bill if every instance lives until its commitments end (``extend`` until ``until``)."""
        total = self.spent_usd + sum(i.reserved_usd for i in self._instances if i.rented is None)
        for item in self._living():
            end = max(now, item.committed_until or now)
            if item is extend and until is not None:
                end = max(end, until)
            alive = max(0.0, (end - item.rented.created).total_seconds())
            total += max(1, math.ceil(round(alive / SECONDS_PER_HOUR, 9))) * item.rented.hourly_usd
        return round(total, 4)

    def _living(self) -> list[_Instance]:
        return [i for i in self._instances if i.rented is not None]

    def _may_rent(self, inst: _Instance) -> str | None:
        """Why ``inst`` may not be created (its first billed hour would cross the budget); None when it may."""
        with self._lock:
            if self.stopping:
                return f"not started: {self.stopping}"
            now = self.cloud.now()
            hourly = self._price(inst.plan.plan)[0] * self.spec.compute.nodes
            bill = self._bill_if(None, None, now) + hourly
            if bill > self.spec.budget.max_usd:
                return (f"not started: renting its instance would bring the sprint to ${bill:.2f}, over the "
                        f"${self.spec.budget.max_usd:.2f} budget")
            if inst not in self._instances:
                self._instances.append(inst)
            inst.reserved_usd = hourly  # two instances deciding at once must not both fit the same dollars
            return None

    def _may_start(self, inst: _Instance, name: str) -> str | None:
        """Why experiment ``name`` may not start on ``inst`` now; None when it may (and its hours are committed)."""
        from datetime import timedelta

        hours = self.sprint_plan.estimates[name].hours
        with self._lock:
            now = self.cloud.now()
            end = now + timedelta(hours=hours)
            deadline = self._deadline
            if deadline is not None and end > deadline:
                return f"it would end after the deadline ({end:%H:%M} > {deadline:%H:%M} UTC)"
            bill = self._bill_if(inst, end, now)
            if bill > self.spec.budget.max_usd:
                return (f"its estimated {hours:.2f} h would bring the sprint to ${bill:.2f}, over the "
                        f"${self.spec.budget.max_usd:.2f} budget")
            inst.committed_until = max(inst.committed_until or end, end)
            return None

    def _watch(self, inst: _Instance, outcome: Outcome, state: dict) -> None:
        """Called while an experiment trains: stop it for the sprint's budget, its hours, halving or a halt.

        Raises:
            BudgetStop: the experiment must stop (the reason says why).
            InstanceLost: its instance is gone.
        """
        if outcome.halved is not None and outcome.halved.stop:
            raise BudgetStop(outcome.halved.reason)
        if self._halt.is_set():
            raise BudgetStop(self.stopping or "the sprint is stopping")
        if time.monotonic() - state.get("checked", -math.inf) < self.options.guard_every_s:
            return
        state["checked"] = time.monotonic()
        for k, info in enumerate(inst.nodes):
            if self.cloud.get_instance(info.id) is None:
                node = f" (node {k})" if len(inst.nodes) > 1 else ""
                raise InstanceLost(f"instance {info.id}{node} disappeared mid-training")
        budget = self.spec.budget
        now = self.cloud.now()
        hours = (now - outcome.started).total_seconds() / SECONDS_PER_HOUR
        if hours >= budget.max_hours:
            raise BudgetStop(f"budget.max_hours: trained {hours:.2f} h of at most {budget.max_hours:g} h")
        with self._lock:
            rented = [i.rented for i in self._living()]
            billed = self.spent_usd + billed_usd(rented, now)
            upcoming = self.spent_usd + billed_usd(rented, now, extra_s=BUDGET_MARGIN_S)
        if billed > budget.max_usd or upcoming > budget.max_usd:
            reason = (f"budget.max_usd: the sprint's bill would reach ${max(billed, upcoming):.2f}, over the "
                      f"${budget.max_usd:.2f} budget")
            self._stop_all(reason)
            raise BudgetStop(reason)

    def _stop_all(self, reason: str) -> None:
        with self._lock:
            if self.stopping is None:
                self.stopping = reason
                self.say(f"stopping the sprint: {reason}")
        self._halt.set()
        self._gate.close()  # outside self._lock: a creation under way records itself under it

    def _skip_all(self, queues: dict[int, list[str]], reason: str) -> None:
        for queue in queues.values():
            while queue:
                self._never_started(queue.pop(0), reason)

    # -- the end ----------------------------------------------------------------------------------

    def _mark_training(self) -> None:
        with self._lock:
            if not self._trained and self.state == "provisioning":
                self._trained = True
                self._move("training")

    def _access_once(self):
        with self._lock:
            return self._access()

    def _release(self, inst: _Instance) -> None:
        """Delete ``inst`` as soon as its lanes are done; its bill moves to the sprint's spent money."""
        if inst.info is None:
            return
        now = _safe(self.cloud.now)
        with self._lock:
            usd = billed_usd([inst.rented], now) if now is not None else 0.0
            self.spent_usd += usd
            if inst.rented in self.rented:
                self.rented.remove(inst.rented)
            inst.rented = None
            served, inst.served = inst.served, []  # a replacement's bill is shared by its own experiments
        for info in inst.nodes:
            self._release_instance(info.id)
        if len(inst.nodes) > 1:
            self._forget_peers(inst)
        self._share(served, usd)

    def _share(self, served: list[Outcome], usd: float) -> None:
        """Each experiment's part of its instance's bill, by the time it trained there (lanes share equally)."""
        served = [o for o in served if o.started is not None]
        times = [max(1.0, ((o.ended or o.started) - o.started).total_seconds()) for o in served]
        total = sum(times)
        for outcome, seconds in zip(served, times):
            self.ledger.cost(outcome.run_id, actual_usd=round(usd * seconds / total, 4))

    def _finish(self, final: str, reason: str | None, code: int) -> tuple[str, str | None, int]:
        if final != "succeeded":
            self._stop_all(reason or final)
        for thread in self._threads:  # the lanes see the halt within a poll and stop their jobs
            thread.join(timeout=JOIN_TIMEOUT_S)
        ending = f"the sprint {final}" + (f" ({_one_line(reason)})" if reason else "")
        for outcome in self.outcomes.values():
            try:
                if outcome.run_id is None:
                    self._never_started(outcome.name, f"not started: {ending}")
                elif outcome.state in ("queued", "running"):
                    self.ledger.transition(outcome.run_id, "aborted", reason=ending)
                    outcome.state, outcome.reason = "aborted", ending
            except (ValueError, StagerError) as exc:
                self.say(f"[{outcome.name}] recording its end failed: {exc}")
        final, reason, code = super()._finish(final, reason, code)
        self._write_results(final)
        return final, reason, code

    def _write_results(self, final: str) -> None:
        rows = [{"experiment": o.name, "run_id": o.run_id, "state": o.state, "reason": o.reason,
                 "instance": o.instance, "gpu": o.gpu, "metrics": o.metrics,
                 "overrides": dict(self.sprint.experiment(o.name).overrides)} for o in self.outcomes.values()]
        self.folder.write_json("results.json", {"sprint_id": self.run_id, "state": final, "experiments": rows})

    def _summary(self, final: str, reason: str | None, actual: float) -> None:
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
        done = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self.say(f"sprint {self.run_id} {final}" + (f": {reason}" if reason else "") + f"; experiments: {done}; "
                 f"cost ${actual:.2f} (planned ${self.sprint_plan.total_usd:.2f}); results in "
                 f"{self.folder.root / 'results.json'}")


def _deadline_for(plan: SprintPlan):
    """When the sprint's resources count as forgotten (their ttl): its planned end plus the per-experiment cap."""
    from datetime import timedelta

    from stager.run.instance import ttl_for

    return plan.start + timedelta(hours=plan.packing.makespan_h) + ttl_for(plan.sprint.pipeline.budget.max_hours)
