"""What every benchmark prints about the code it measures."""

from __future__ import annotations

import os
import subprocess


def stager_source_state() -> str:
    """Which stager is measured: its folder and git commit, with uncommitted files named."""
    try:
        import stager
    except ImportError:
        return "stager not importable"
    root = os.path.dirname(os.path.dirname(os.path.abspath(stager.__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "stager"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"stager {getattr(stager, '__version__', '?')} from {root} (not a git checkout)"
    changed = [line[3:] for line in dirty.splitlines() if line[:2].strip() == "M"]
    state = f" + uncommitted changes to {', '.join(changed)}" if changed else ""
    return f"stager {getattr(stager, '__version__', '?')} from {root}, commit {head}{state}"
