"""What the training instance really had: Python, its platform and every installed package with its version.

The image's recipe says what was asked for; this says what was there when the run
trained, so two runs from "the same" image can be compared down to a package. The
agent reports it as an ``@stager`` line (``{"event": "environment", ...}``) and the
controller records it in the ledger as ``instance.environment``.
"""

from __future__ import annotations

import platform
from importlib import metadata

from stager.ledger.records import INSTANCE_ENVIRONMENT as ENVIRONMENT_EVENT

__all__ = ["ENVIRONMENT_EVENT", "describe", "ledger_data"]


def describe() -> dict:
    """This interpreter's environment; cheap (package metadata only, no imports of the packages)."""
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:  # a broken install can leave metadata without a name
            packages.setdefault(name.lower(), dist.version)
    found = {"python": platform.python_version(), "platform": platform.platform(),
             "packages": dict(sorted(packages.items()))}
    try:
        import torch

        found["torch_cuda"] = torch.version.cuda  # None for a CPU build
    except ImportError:
        pass
    return found


def ledger_data(record: dict) -> dict | None:
    """The ledger event's data for a report line, or None when ``record`` is no environment report."""
    if record.get("event") != "environment" or not isinstance(record.get("packages"), dict):
        return None
    return {key: record[key] for key in ("python", "platform", "packages", "torch_cuda") if key in record}
