"""What a run's result depends on besides its spec: software versions and the user's project commit."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

__all__ = ["git_state", "versions"]


def versions() -> dict[str, str]:
    import stager

    found = {"stager": stager.__version__, "python": platform.python_version()}
    try:
        import torch

        found["torch"] = torch.__version__
    except ImportError:  # the controller need not train; the instance's torch is in its image
        pass
    return found


def git_state(folder: Path) -> dict | None:
    """``{"commit", "dirty"}`` of the git work tree holding ``folder``; None outside one (or without git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": bool(status and status.strip())}
