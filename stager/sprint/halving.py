"""Early stopping across a sweep: asynchronous successive halving.

Every ``every_epochs`` epochs is a rung. When an experiment reaches a rung it
reports its metric there; among all results at that rung so far (once there are
at least ``min_peers``), only the best ``keep`` fraction goes on, and the rest
stop, giving their GPU time to the experiments after them on the lane.
Asynchronous because a sprint runs experiments one after another: an
experiment is judged against those that reached the rung before it, instead of
waiting for the whole sweep to get there (the rule of ASHA, Li et al. 2020).
An experiment that has no value for the metric at a rung is not judged there.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from stager.sprint.spec import HalvingSpec

__all__ = ["Rungs", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    experiment: str
    epoch: int  # epochs done at the rung
    value: float
    rank: int  # 1 = best at the rung so far
    peers: int  # results at the rung, this one included
    keep: int  # how many of them go on
    stop: bool

    @property
    def reason(self) -> str:
        return (f"halved at epoch {self.epoch}: {self.value:.4g} ranks {self.rank} of {self.peers} "
                f"(the best {self.keep} go on)")


class Rungs:
    """The results at each rung, shared by every lane of the sprint (thread-safe)."""

    def __init__(self, spec: HalvingSpec) -> None:
        self.spec = spec
        self._results: dict[int, dict[str, float]] = {}
        self._lock = threading.Lock()

    def report(self, experiment: str, epochs_done: int, metrics: Mapping[str, object],
               last_epoch: int | None = None) -> Verdict | None:
        """Record ``experiment`` after ``epochs_done`` epochs; a verdict when that is a rung with the metric.

        An experiment's ``last_epoch`` is no rung: stopping it there would save nothing.
        """
        if epochs_done <= 0 or epochs_done % self.spec.every_epochs:
            return None
        if last_epoch is not None and epochs_done >= last_epoch:
            return None
        value = metrics.get(self.spec.metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        with self._lock:
            rung = self._results.setdefault(epochs_done, {})
            rung[experiment] = float(value)
            values = sorted(rung.values(), reverse=self.spec.mode == "max")
        peers = len(values)
        rank = values.index(float(value)) + 1  # ties share the better rank
        keep = max(1, math.floor(peers * self.spec.keep))
        stop = peers >= self.spec.min_peers and rank > keep
        return Verdict(experiment, epochs_done, float(value), rank, peers, keep, stop)

    def at(self, epochs_done: int) -> dict[str, float]:
        with self._lock:
            return dict(self._results.get(epochs_done, {}))
