"""Booting several instances at once (stager.run.fleet): overlap, order, and no creation after a stop."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from stager.errors import Interrupted
from stager.run.fleet import CreateGate, boot_all


def test_boots_overlap_and_results_keep_node_order():
    running = []
    both_booting = threading.Barrier(3, timeout=5)  # three boots wait for each other: only possible at once

    def boot(k: int, gate: CreateGate) -> str:
        with gate.creating():
            running.append(k)
        both_booting.wait()
        time.sleep(0.05 * (3 - k))  # node 0 boots slowest
        return f"node{k}"

    assert boot_all(3, boot) == ["node0", "node1", "node2"]
    assert sorted(running) == [0, 1, 2]


def test_a_failed_boot_is_raised_at_once_and_no_instance_is_created_after_it():
    created: list[int] = []
    slow_may_create = threading.Event()
    outcome: dict[str, BaseException] = {}

    def boot(k: int, gate: CreateGate) -> int:
        if k == 0:
            raise RuntimeError("node 0 did not boot")
        slow_may_create.wait(5)  # node 1 tries to create (a boot's retry) only after node 0 has failed
        try:
            with gate.creating():
                created.append(k)
        except Interrupted as exc:
            outcome["refused"] = exc
        return k

    sprint = CreateGate()  # a sprint's gate: one group's failure must not stop the others' creations
    with pytest.raises(RuntimeError, match="node 0 did not boot"):
        boot_all(2, boot, sprint)
    slow_may_create.set()
    deadline = time.monotonic() + 5
    while "refused" not in outcome and time.monotonic() < deadline:
        time.sleep(0.01)
    assert created == [] and "stopping" in str(outcome["refused"])
    with sprint.creating():  # still open for the sprint's other instances
        created.append(99)
    assert created == [99]


def test_closing_waits_for_a_creation_under_way_to_be_recorded():
    gate = CreateGate()
    recorded: list[str] = []
    inside = threading.Event()

    def create() -> None:
        with gate.creating():
            inside.set()
            time.sleep(0.2)  # the provider's answer, then the ledger's record
            recorded.append("instance 1")

    worker = threading.Thread(target=create)
    worker.start()
    inside.wait(5)
    gate.close()  # the teardown would start now: the instance under way must already be recorded
    assert recorded == ["instance 1"]
    worker.join(5)
    with pytest.raises(Interrupted), gate.creating():
        recorded.append("instance 2")
    assert recorded == ["instance 1"]


def test_ctrl_c_while_the_nodes_boot_closes_the_gate():
    release = threading.Event()
    gates: list[CreateGate] = []

    def boot(k: int, gate: CreateGate) -> int:
        gates.append(gate)
        release.wait(10)
        return k

    ctrl_c = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            boot_all(2, boot)  # the main thread waits here, as `stager run` does
    finally:
        ctrl_c.cancel()
        release.set()
    with pytest.raises(Interrupted), gates[0].creating():  # a boot's retry would create nothing now
        pass


def test_a_closed_parent_gate_refuses_the_creations_of_every_child():
    sprint = CreateGate()
    group = CreateGate(sprint)
    with group.creating():
        pass
    sprint.close()
    with pytest.raises(Interrupted), group.creating():
        pass
