"""Which of stager's resources are garbage: a pure function of the resource, its run's facts and the time.

Nothing here reads the cloud, the ledger or a lock, so every rule is tested
without them. The rules, in order (``docs/gc.md`` says the same for users):

1. An available image is kept: gold images are reused by later runs (``stager image
   prune`` removes unused ones). An unavailable one (a failed or unfinished capture)
   is garbage unless its build is in progress; one with no build (an upload) only
   after a day.
2. A dataset volume is kept: it holds data between runs, on purpose.
3. Without a run id stager cannot tell whose it is: kept.
4. A run the ledger knows whose controller is alive is kept, finished or not and
   ttl or not: that process tears it down itself, and gc must never race it.
5. A run the ledger knows that has finished: garbage.
6. A run the ledger knows, not finished, controller gone: garbage, and the run is
   recorded as failed.
7. An image build (its record on this machine) in progress and within its ttl: kept;
   any other build's: garbage.
8. A ttl that has passed: garbage.
9. A data sync (``d...`` ids have no record anywhere) within its ttl: kept.
10. Anything else belongs to a run the ledger does not know: garbage.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from stager.gc.model import Decision, Found, RunFacts
from stager.ledger.states import is_finished

__all__ = ["UPLOAD_GRACE", "decide"]

UPLOAD_GRACE = timedelta(days=1)  # an image upload left unfinished this long was abandoned
_DATA_SYNC_ID = re.compile(r"d\d{8}-\d{6}-[0-9a-f]{4}")  # stager.ids.new_id("d"): `stager data sync` to a volume


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def decide(found: Found, facts: RunFacts | None, now: datetime) -> Decision:
    """Whether ``found`` is garbage at ``now`` (the provider's clock), given the facts about its run.

    ``facts`` is None only when ``found.run_id`` is None.

    Raises:
        Nothing.
    """
    if found.kind == "image":
        return _image(found, facts, now)
    if found.dataset:
        return Decision(False, "a dataset volume, kept between runs on purpose; delete it yourself when unneeded")
    if found.run_id is None or facts is None:
        return Decision(False, "names no run, so stager cannot tell whose it is; delete it yourself if unwanted")
    expired = found.ttl is not None and now >= found.ttl
    if facts.state is not None:
        if facts.controller_alive:
            late = f"; its ttl passed at {_when(found.ttl)}" if expired and found.ttl else ""
            return Decision(False, f"run is {facts.state} and its controller is alive{late}")
        if is_finished(facts.state):
            return Decision(True, f"run {facts.state}")
        return Decision(True, f"run is {facts.state} but its controller is gone", fail_run=True)
    if facts.build_status is not None:
        deadline = found.ttl or facts.build_deadline
        if facts.build_status == "running":
            if deadline is not None and now < deadline:
                return Decision(False, f"image build in progress (ttl {_when(deadline)})")
            return Decision(True, "image build stopped without finishing (past its ttl)" if deadline else
                            "image build stopped without finishing")
        return Decision(True, f"image build {facts.build_status}")
    if expired and found.ttl is not None:
        return Decision(True, f"ttl passed at {_when(found.ttl)}")
    if _DATA_SYNC_ID.fullmatch(found.run_id) and found.ttl is not None:
        return Decision(False, f"a data sync may be running (ttl {_when(found.ttl)})")
    return Decision(True, "run unknown to the ledger")


def _image(found: Found, facts: RunFacts | None, now: datetime) -> Decision:
    if found.status == "available":
        return Decision(False, "available gold image, reused by later runs (`stager image prune` removes unused ones)")
    if found.run_id is None or facts is None:
        if found.created is not None and now - found.created >= UPLOAD_GRACE:
            return Decision(True, f"{found.status} upload abandoned for over a day")
        return Decision(False, f"{found.status}: an upload may be in progress")
    if facts.build_status == "running" and facts.build_deadline is not None and now < facts.build_deadline:
        return Decision(False, f"{found.status}: its build is in progress (ttl {_when(facts.build_deadline)})")
    build = facts.build_status or "unknown here"
    return Decision(True, f"{found.status}: capture never finished (build {build})")
