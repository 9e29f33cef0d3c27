"""A recipe turned into the shell steps that build its image on one instance.

The steps are the same on both targets except where a sandbox cannot mean the
same thing, and those differences are stated in the step itself, never
dropped silently:

- ``apt`` and ``cloud-init`` are skipped: a sandbox has neither.
- The virtualenv is made with the controller's own Python and sees the
  controller's installed packages (a ``.pth`` file), and pip runs with
  ``--no-index``: a sandbox has no network, so requirements must already be
  met on the controller. pip still checks every one of them.

Every command is built with `stager.remote.quoting`; only the recipe's own
``run`` and ``smoke`` lines are shell by design.
"""

from __future__ import annotations

import posixpath
import site
import sys
from dataclasses import dataclass, field
from pathlib import Path

from stager.image.layout import STAGING, InstanceLayout
from stager.image.recipe import Recipe
from stager.remote.quoting import command, quote

__all__ = ["Step", "Upload", "disk_usage_command", "plan_steps"]

_PIP = ("-m", "pip", "install", "--no-input", "--disable-pip-version-check")


@dataclass(frozen=True)
class Upload:
    local: Path  # file on the controller
    remote: str  # home-relative path on the instance


@dataclass(frozen=True)
class Step:
    phase: str  # setup | smoke | finalize
    title: str  # what the log shows
    command: str | None  # the shell command line; None when skipped
    skipped: str | None = None  # why this target skips it
    uploads: tuple[Upload, ...] = field(default_factory=tuple)  # sent before the command runs


def plan_steps(recipe: Recipe, layout: InstanceLayout, wheel: Path | None) -> list[Step]:
    """The ordered steps that build ``recipe`` on an instance with ``layout``.

    ``wheel`` is the stager wheel on the controller (None when the recipe says
    ``stager: none``).
    """
    steps: list[Step] = []
    sandbox = layout.sandboxed
    if sandbox:
        steps.append(Step("setup", "wait for cloud-init", None, skipped="a sandbox runs no cloud-init"))
    else:
        steps.append(Step("setup", "wait for cloud-init", "cloud-init status --wait >/dev/null || true"))
    if recipe.apt:
        title = "apt install " + " ".join(recipe.apt)
        if sandbox:
            steps.append(Step("setup", title, None, skipped="a sandbox has no package manager"))
        else:
            steps.append(Step("setup", title, "export DEBIAN_FRONTEND=noninteractive && apt-get update -q && "
                              + command("apt-get", "install", "-y", "-q", "--no-install-recommends", *recipe.apt)))
    steps.append(_venv_step(layout))
    pip_step = _pip_step(recipe, layout)
    if pip_step:
        steps.append(pip_step)
    if wheel is not None:
        remote = posixpath.join(STAGING, wheel.name)
        steps.append(Step("setup", f"install {wheel.name}",
                          command(layout.python, *_PIP, *_offline(layout), remote),
                          uploads=(Upload(wheel, remote),)))
    for index, item in enumerate(recipe.files):
        remote = posixpath.join(STAGING, "files", str(index))
        steps.append(Step("setup", f"file {item.dest}",
                          command("install", "-D", "-m", f"{item.mode:o}", remote, layout.path(item.dest)),
                          uploads=(Upload(item.src, remote),)))
    prologue = _environment(recipe, layout)
    steps += [Step("setup", f"run: {line}", prologue + command("bash", "-c", line)) for line in recipe.run]
    steps += [Step("smoke", line, prologue + command("bash", "-c", line)) for line in recipe.smoke]
    steps += _finalize(layout)
    return steps


def disk_usage_command(layout: InstanceLayout) -> str:
    """A command printing the bytes the image would hold."""
    if layout.sandboxed:
        return command("du", "-sb", "--", layout.root) + " | cut -f1"
    return "df -B1 --output=used / | tail -n 1"


def _venv_step(layout: InstanceLayout) -> Step:
    if not layout.sandboxed:
        return Step("setup", "python venv " + layout.venv,
                    command("python3", "-m", "venv", layout.venv) + " && "
                    + command(layout.python, *_PIP, "--upgrade", "pip"))
    # No network in a sandbox: lend the venv the controller's installed packages.
    lent = [p for p in (*site.getsitepackages(), site.getusersitepackages()) if Path(p).is_dir()]
    pth = posixpath.join(layout.site_packages, "_stager_controller_packages.pth")
    return Step(
        "setup",
        "python venv " + layout.venv + " (the controller's Python and installed packages; a sandbox has no network)",
        command(sys.executable, "-m", "venv", "--without-pip", layout.venv)
        + " && " + command("printf", "%s\\n", *lent) + " > " + quote(pth),
    )


def _pip_step(recipe: Recipe, layout: InstanceLayout) -> Step | None:
    pip = recipe.pip
    if not pip.packages and pip.requirements is None:
        return None
    args: list[str] = []
    uploads: tuple[Upload, ...] = ()
    if layout.sandboxed:
        args += _offline(layout)
    else:
        if pip.index_url:
            args += ["--index-url", pip.index_url]
        for url in pip.extra_index_urls:
            args += ["--extra-index-url", url]
    if pip.requirements is not None:
        remote = posixpath.join(STAGING, "requirements.txt")
        uploads = (Upload(pip.requirements, remote),)
        args += ["-r", remote]
    title = "pip install " + " ".join(pip.packages) + (" -r requirements" if pip.requirements else "")
    if layout.sandboxed:
        title += " (offline: met from the controller's packages)"
    return Step("setup", title.strip(), command(layout.python, *_PIP, *args, *pip.packages), uploads=uploads)


def _offline(layout: InstanceLayout) -> tuple[str, ...]:
    # Offline, pip can only report "already satisfied" for every package: keep its errors, drop that noise.
    return ("--no-index", "--quiet") if layout.sandboxed else ()


def _environment(recipe: Recipe, layout: InstanceLayout) -> str:
    """``NAME=value ...`` for run and smoke commands: the image's venv first on PATH."""
    pairs = [("VIRTUAL_ENV", quote(layout.venv)), ("STAGER_PREFIX", quote(layout.prefix)),
             ("PATH", quote(posixpath.join(layout.venv, "bin")) + ':"$PATH"')]
    pairs += [(name, quote(value)) for name, value in recipe.env]
    return " ".join(f"{name}={value}" for name, value in pairs) + " "


def _finalize(layout: InstanceLayout) -> list[Step]:
    cleanup = Step("finalize", "remove build files", command("rm", "-rf", "--", STAGING))
    if layout.sandboxed:
        return [cleanup, Step("finalize", "reset cloud-init and SSH keys for the next boot", None,
                              skipped="a sandbox has no cloud-init; its keys are not on its disk")]
    return [
        cleanup,
        Step("finalize", "clean package caches", "apt-get clean && rm -rf /root/.cache/pip"),
        # The next boot is a new instance: cloud-init must run again to install
        # that instance's pinned host key, and the builder's login key must go.
        Step("finalize", "reset cloud-init and SSH keys for the next boot",
             "cloud-init clean --logs --machine-id && rm -f /etc/ssh/ssh_host_* /root/.ssh/authorized_keys && sync"),
    ]
