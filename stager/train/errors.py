"""Errors raised while training."""

from __future__ import annotations

from stager.errors import JobFailed


class NonFiniteLossError(JobFailed):
    """The loss became NaN or Inf; training stopped and the last good checkpoint is kept."""

    def __init__(self, step: int, last_checkpoint: str | None) -> None:
        self.step = step
        self.last_checkpoint = last_checkpoint
        kept = f"; last good checkpoint: {last_checkpoint}" if last_checkpoint else "; no checkpoint had been saved"
        super().__init__(f"the loss became NaN or Inf at step {step}{kept}")
