"""A run's folder on this machine, ``runs/<run id>/``: what a user opens after a run.

    runs/<run id>/
      pipeline.yaml        the resolved pipeline, secrets redacted
      estimate.json        the cost estimate the run started with
      run.json             where the run stands: state, reason, image, instances, cost (rewritten as it goes)
      train.yaml           the trainer config the instance trained with
      logs/controller.log  what stager printed
      logs/train.log       the trainer's output, as streamed
      logs/remote.log      every remote command and its output
      metrics.jsonl        the metrics the trainer reported, one record per line
      checkpoints/         the checkpoints pulled back, each verified by sha256
      out/                 everything else the trainer wrote (its loggers' files)

No secret is ever written here: the pipeline is redacted, keys live in memory
and on the instance only, and the SSH key sits under ``$STAGER_HOME/secrets``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["RunFolder"]


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @classmethod
    def create(cls, runs_dir: Path, run_id: str) -> RunFolder:
        folder = cls(Path(runs_dir) / run_id)
        (folder.root / "logs").mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def controller_log(self) -> Path:
        return self.root / "logs" / "controller.log"

    @property
    def train_log(self) -> Path:
        return self.root / "logs" / "train.log"

    @property
    def remote_log(self) -> Path:
        return self.root / "logs" / "remote.log"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def outputs(self) -> Path:
        return self.root / "out"

    def write_text(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
        return path

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    def log(self, line: str) -> None:
        """Append a line to the controller log, stamped with UTC time."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(self.controller_log, "a", encoding="utf-8") as out:
            out.write(f"{stamp} {line}\n")
