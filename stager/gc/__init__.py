"""``stager gc``: find what stager left in the cloud and delete what no run needs any more.

The rules are in ``rules.decide`` (a pure function, see ``docs/gc.md``); ``sweep.collect_garbage``
lists the target, gathers the facts, applies the rules and deletes.
"""

from __future__ import annotations

from stager.gc.model import Decision, Found, RunFacts
from stager.gc.rules import decide
from stager.gc.sweep import GcReport, Outcome, collect_garbage

__all__ = ["Decision", "Found", "GcReport", "Outcome", "RunFacts", "collect_garbage", "decide"]
