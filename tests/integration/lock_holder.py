"""A live process holding a run's lock, as the run's controller would (what `stager gc` must respect)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_HOLD = """
import sys, time
from pathlib import Path
from stager.run.lock import RunLock
RunLock(sys.argv[1], Path(sys.argv[2])).acquire()
print("held", flush=True)
time.sleep(120)
"""


def hold_run_lock(run_id: str, home: Path) -> subprocess.Popen:
    """Start a process that holds ``run_id``'s lock under ``home`` (until killed); return once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, run_id, str(home)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc
