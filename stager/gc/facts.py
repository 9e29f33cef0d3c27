"""The facts ``stager gc`` decides on, read from this machine: the ledger, the run locks, the build records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from stager.errors import UsageError
from stager.gc.model import Found, RunFacts
from stager.image.records import BuildStore
from stager.run.lock import controller_alive

__all__ = ["LocalFacts"]


class LocalFacts:
    """Run states (from ``ledger.runs()``), build statuses (from the build records) and locks, read on demand."""

    def __init__(self, states: dict[str, str], home: Path) -> None:
        self.states = states  # run id -> the ledger's current state
        self.home = home  # $STAGER_HOME: the locks and the build records
        self.builds = {r.build_id: r.status for r in BuildStore(home).all()}  # build id -> status
        self.build_deadlines: dict[str, datetime] = {}  # build id -> latest ttl among its resources
        self._facts: dict[str, RunFacts] = {}

    def known_ids(self) -> list[str]:
        """Every run and build id this machine has a record of."""
        return [*self.states, *self.builds]

    def see(self, found: Iterable[Found]) -> None:
        """Learn each build's deadline from its resources on the target (the builder's ttl)."""
        for item in found:
            if item.run_id in self.builds and item.ttl is not None:
                current = self.build_deadlines.get(item.run_id)
                self.build_deadlines[item.run_id] = item.ttl if current is None else max(current, item.ttl)

    def of(self, run_id: str | None) -> RunFacts | None:
        """The facts about ``run_id``, read once (the lock is checked when first asked); None for None."""
        if run_id is None:
            return None
        if run_id not in self._facts:
            self._facts[run_id] = self.read(run_id)
        return self._facts[run_id]

    def read(self, run_id: str) -> RunFacts:
        """The facts about ``run_id`` as they are now, the lock checked afresh."""
        try:
            alive = controller_alive(run_id, self.home)
        except UsageError:  # not an id a lock can be named by: nobody holds one
            alive = False
        return RunFacts(run_id, self.states.get(run_id), alive, self.builds.get(run_id),
                        self.build_deadlines.get(run_id))
