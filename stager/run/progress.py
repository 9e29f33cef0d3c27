"""Training as the controller sees it: the instance's log lines in, a progress line, logs and metrics out.

The trainer on the instance prints its own output and, through
``stager.run.report.MetricsReport``, one ``@stager {json}`` line per logging
step. Every line is appended to ``logs/train.log``; report records also go to
``metrics.jsonl``, and become the progress line::

    [train] epoch 2/3 step 1520/2535 loss 0.3121 | 212.4 it/s | 00:41 | $1.50 so far

At most one progress line every ``every_s`` seconds (epoch ends and the end are
always shown), so a log file stays readable and a fast trainer does not flood
the terminal.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TrainingProgress", "node_prefixed"]

_LOSS_NAMES = ("train_loss", "loss", "train_loss_step", "loss_step")


class TrainingProgress:
    def __init__(self, *, train_log: Path, metrics: Path, say: Callable[[str], None],
                 dollars: Callable[[], float | None] = lambda: None, every_s: float = 2.0, echo: bool = True,
                 on_record: Callable[[dict], None] | None = None) -> None:
        from stager.run.report import parse_report

        self._parse = parse_report
        self._train_log = open(train_log, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._metrics = open(metrics, "a", encoding="utf-8")  # noqa: SIM115
        self._say = say
        self._dollars = dollars
        self._every_s = every_s
        self._echo = echo  # show the trainer's own lines on the terminal too
        self._on_record = on_record  # e.g. the ledger's record of epochs and pushed checkpoints
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_shown = 0.0
        self._rate_mark: tuple[float, int] | None = None
        self.last_step = 0
        self.last_epoch = 0
        self.max_epochs: int | None = None
        self.total_steps: int | None = None
        self.final_metrics: dict[str, float] = {}  # the latest value of every finite metric reported
        self.ended = False
        self.tail: deque[str] = deque(maxlen=5)  # the trainer's last lines, for a failure's message

    def line(self, text: str) -> None:
        """One line of the job's log (called from the SSH reader)."""
        with self._lock:
            self._take(text, text, reports=True)

    def node_line(self, node: int, text: str) -> None:
        """One line of node ``node``'s log in a multi-node run: written and shown as ``[node k] ...``.

        Only node 0 (global rank zero) reports metrics and checkpoints; another node's lines are never read
        as reports, so they reach the log and the console, not the metrics or the ledger.
        """
        with self._lock:
            self._take(text, node_prefixed(node, text), reports=node == 0)

    def _take(self, text: str, logged: str, *, reports: bool) -> None:
        self._train_log.write(logged + "\n")
        self._train_log.flush()
        record = self._parse(text) if reports else None
        if record is None:
            if text.strip():
                self.tail.append(logged.strip())
            if self._echo:
                self._say(f"  {logged}")
            return
        if record.get("event") != "environment":  # the agent's report, for the ledger; not a metric
            self._metrics.write(json.dumps(record, sort_keys=True) + "\n")
            self._metrics.flush()
        self._handle(record)
        if self._on_record is not None:
            self._on_record(record)

    def _handle(self, record: dict) -> None:
        event = record.get("event")
        step = record.get("step")
        if isinstance(step, int):
            self.last_step = max(self.last_step, step)
        epoch = record.get("epoch")
        if isinstance(epoch, int):
            self.last_epoch = epoch
        if event == "start":
            self.max_epochs = record.get("max_epochs") if isinstance(record.get("max_epochs"), int) else None
            steps = record.get("steps_per_epoch")
            max_steps = record.get("max_steps")
            if isinstance(max_steps, int) and max_steps > 0:
                self.total_steps = max_steps
            elif isinstance(steps, int) and self.max_epochs and self.max_epochs > 0:
                self.total_steps = steps * self.max_epochs
            self._rate_mark = (time.monotonic(), self.last_step)
            self._say(f"[train] started at step {self.last_step}" + (
                f" of {self.total_steps}" if self.total_steps else ""))
        elif event == "metrics":
            self.final_metrics.update(_finite(record.get("metrics")))
            if time.monotonic() - self._last_shown >= self._every_s:
                self._show(record)
        elif event == "epoch":
            self.final_metrics.update(_finite(record.get("metrics")))
            self._show(record, force=True)
        elif event == "end":
            self.ended = True
            self._show(record, force=True)

    def _show(self, record: dict, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_shown < self._every_s:
            return
        self._last_shown = now
        parts = ["[train]"]
        if self.max_epochs:
            parts.append(f"epoch {self.last_epoch + 1 if record.get('event') != 'end' else self.last_epoch}/"
                         f"{self.max_epochs}")
        parts.append(f"step {self.last_step}" + (f"/{self.total_steps}" if self.total_steps else ""))
        metrics = _finite(record.get("metrics"))
        loss = next((metrics[n] for n in _LOSS_NAMES if n in metrics), None)
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        for name in sorted(metrics):
            if name.startswith("val_") and len(parts) < 8:
                parts.append(f"{name} {metrics[name]:.4f}")
        line = " ".join(parts)
        rate = self._rate()
        extra = [f"{rate:.1f} it/s"] if rate else []
        extra.append(_clock(now - self._started))
        dollars = self._dollars()
        if dollars is not None:
            extra.append(f"${dollars:.2f} so far")
        if record.get("event") == "end":
            line += " (done)"
        self._say(f"{line} | {' | '.join(extra)}")

    def _rate(self) -> float | None:
        if self._rate_mark is None:
            return None
        since, step0 = self._rate_mark
        elapsed = time.monotonic() - since
        if elapsed <= 0 or self.last_step <= step0:
            return None
        return (self.last_step - step0) / elapsed

    def close(self) -> None:
        with self._lock:
            self._train_log.close()
            self._metrics.close()


def node_prefixed(node: int, text: str) -> str:
    """``text`` as a multi-node run shows and logs it: ``[node 1] text``."""
    return f"[node {node}] {text}"


def _finite(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, dict):
        return {}
    return {str(k): float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
