"""A run's state machine: the stages in order, the terminal states, and which moves are legal.

``pending → validating → syncing → imaging → provisioning → training → collecting
→ tearing_down → succeeded | failed | aborted``

- A run moves forward only, and may skip stages it does not need (a run whose
  image exists moves from syncing straight to provisioning).
- ``failed`` and ``aborted`` can follow any state that is not terminal: a crash or
  Ctrl-C can happen anywhere.
- ``succeeded`` follows ``tearing_down`` only: no run succeeds before its cloud
  resources were deleted.
- Nothing follows ``succeeded``. A ``failed`` or ``aborted`` run may be reopened
  (``stager run --resume``) by the state ``resumed``, which may then move to any
  stage after ``pending`` (resume restarts from the last good stage, which can lie
  before the one that failed), or fail again.
"""

from __future__ import annotations

__all__ = ["RESUMABLE", "RESUMED", "STAGES", "STATES", "TERMINAL", "check_transition", "is_finished"]

STAGES = ("pending", "validating", "syncing", "imaging", "provisioning", "training", "collecting", "tearing_down")
TERMINAL = ("succeeded", "failed", "aborted")
RESUMABLE = ("failed", "aborted")
RESUMED = "resumed"
STATES = (*STAGES, *TERMINAL, RESUMED)


def is_finished(state: str) -> bool:
    return state in TERMINAL


def check_transition(current: str | None, new: str) -> None:
    """Accept the move ``current → new`` or say why not; ``current`` is None for a new run.

    Raises:
        ValueError: ``new`` is not a state, or the move is not allowed.
    """
    if new not in STATES:
        raise ValueError(f"unknown run state {new!r}; states are {', '.join(STATES)}")
    if current is None:
        if new != "pending":
            raise ValueError(f"a run starts as 'pending', not {new!r}")
        return
    if new == "pending":
        raise ValueError("'pending' is only a run's first state")
    if current == "succeeded":
        raise ValueError(f"the run has succeeded; nothing may follow (not {new!r})")
    if current in RESUMABLE:
        if new != RESUMED:
            raise ValueError(f"the run is {current}; only {RESUMED!r} (stager run --resume) may follow, not {new!r}")
        return
    if new == RESUMED:
        raise ValueError(f"only a failed or aborted run can be resumed; this one is {current}")
    if new in RESUMABLE:
        return
    if new == "succeeded":
        if current != "tearing_down":
            raise ValueError(f"a run succeeds only after 'tearing_down', not straight from {current!r}")
        return
    if current == RESUMED:
        return
    if STAGES.index(new) <= STAGES.index(current):
        raise ValueError(f"a run moves forward only: {current!r} cannot be followed by {new!r}")
