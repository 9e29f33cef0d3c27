"""Asynchronous successive halving: who is stopped at a rung, given those that reached it before."""

from __future__ import annotations

from stager.sprint.halving import Rungs
from stager.sprint.spec import HalvingSpec


def _rungs(**kw) -> Rungs:
    settings = {"metric": "val_loss", "mode": "min", "every_epochs": 1, "keep": 0.5, "min_peers": 2} | kw
    return Rungs(HalvingSpec(**settings))


def test_the_worse_half_at_a_rung_stops_once_there_are_enough_peers():
    rungs = _rungs()
    first = rungs.report("a", 1, {"val_loss": 0.5})
    assert first is not None and not first.stop  # alone at the rung: nothing to compare with
    worse = rungs.report("b", 1, {"val_loss": 0.9})
    assert worse.stop and (worse.rank, worse.peers, worse.keep) == (2, 2, 1)
    better = rungs.report("c", 1, {"val_loss": 0.1})
    assert not better.stop and better.rank == 1
    middle = rungs.report("d", 1, {"val_loss": 0.4})  # 4 peers, the best 2 go on: 0.1 and 0.4
    assert not middle.stop and middle.rank == 2
    assert "halved at epoch 1" in worse.reason


def test_max_mode_keeps_the_highest_and_only_rungs_are_judged():
    rungs = _rungs(mode="max", metric="val_acc", every_epochs=2, min_peers=3, keep=0.34)
    assert rungs.report("a", 1, {"val_acc": 0.9}) is None  # epoch 1 is no rung with every_epochs 2
    assert not rungs.report("a", 2, {"val_acc": 0.9}).stop
    assert not rungs.report("b", 2, {"val_acc": 0.2}).stop  # only 2 peers: min_peers is 3
    third = rungs.report("c", 2, {"val_acc": 0.5})
    assert third.stop and third.keep == 1


def test_no_verdict_without_the_metric_or_at_the_last_epoch():
    rungs = _rungs()
    assert rungs.report("a", 1, {"train_loss": 0.3}) is None
    assert rungs.report("a", 1, {"val_loss": float("nan")}) is None
    assert rungs.report("a", 3, {"val_loss": 0.3}, last_epoch=3) is None
    assert rungs.at(1) == {}
