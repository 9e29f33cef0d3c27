"""The ``slurm:`` section of a pipeline: where and how a ``target: slurm`` run is submitted.

    target: slurm
    slurm:
      partition: gpu
      account: my-lab                 # optional: omitted, the cluster's default account
      time: "02:00:00"                # Slurm's formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
      nodes: 1                        # default 1
      gpus_per_node: 4                # default 0: --gpus-per-node is left out
      workdir: /shared/me/runs        # default: the runs folder (--runs-dir, runs/ here)
      python: /shared/me/venv/bin/python   # default: the Python running stager
      extra_sbatch: ["--mem=32G", "--constraint=a100"]

On SLURM the cluster provides the machines and the shared filesystem the data,
so ``image``, ``compute``, ``storage``, ``budget`` and ``rehearse`` are neither
required nor checked: a file may keep them for its other targets, and the run
says they are not used. Every value is checked here so that the sbatch script
can only say what the section means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stager.yamlio import kind_of

__all__ = ["NOT_USED_ON_SLURM", "SLURM", "SlurmSpec", "check_slurm_section"]

SLURM = "slurm"
NOT_USED_ON_SLURM = ("image", "compute", "storage", "budget", "rehearse")
_KEYS = ("partition", "account", "time", "nodes", "gpus_per_node", "workdir", "python", "extra_sbatch")
_EXAMPLE = 'slurm: {partition: gpu, account: my-lab, time: "02:00:00", nodes: 1, gpus_per_node: 1}'
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # partition and account names
_TIME = re.compile(r"^(?:\d+-\d+(?::\d+){0,2}|\d+(?::\d+){0,2})$")
_OPTION = re.compile(r"^(--[A-Za-z][A-Za-z0-9-]*|-[A-Za-z])(?:(?:=|\s+)(\S.*))?$")
# Options the section's own keys set: written twice, the later line would silently win.
_OWN_OPTIONS = {"--job-name": "", "-J": "", "--output": "", "-o": "", "--error": "", "-e": "",
                "--partition": "partition", "-p": "partition", "--account": "account", "-A": "account",
                "--time": "time", "-t": "time", "--nodes": "nodes", "-N": "nodes",
                "--gpus-per-node": "gpus_per_node", "--chdir": "", "-D": ""}


@dataclass(frozen=True)
class SlurmSpec:
    partition: str
    time: str  # the job's time limit as Slurm writes it
    account: str | None = None  # None: the cluster's default account for the user
    nodes: int = 1
    gpus_per_node: int = 0  # 0: no --gpus-per-node line; torchrun starts one process per node
    workdir: Path | None = None  # the shared folder run folders go to; None: the runs folder
    python: str | None = None  # the interpreter on the compute nodes; None: the one running stager
    extra_sbatch: tuple[tuple[str, str | None], ...] = ()  # (option, value) pairs, each an #SBATCH line
    not_used: tuple[str, ...] = ()  # sections the file has that a slurm run does not use

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "account": self.account, "time": self.time, "nodes": self.nodes,
                "gpus_per_node": self.gpus_per_node, "workdir": str(self.workdir) if self.workdir else None,
                "python": self.python,
                "extra_sbatch": [option if value is None else f"{option}={value}"
                                 for option, value in self.extra_sbatch]}


def check_slurm_section(checker, data: dict) -> SlurmSpec:
    """The ``slurm`` section of ``data`` checked with ``checker``'s typed getters (a `spec_check._Checker`).

    Raises:
        ConfigError: located at the field, with a hint.
    """
    doc = checker.doc
    section = checker._mapping(data, SLURM, _EXAMPLE)
    checker._keys(section, SLURM, _KEYS)
    for key in ("partition", "time"):
        if key not in section:
            raise doc.error(SLURM, f"missing `slurm.{key}`", hint=f"e.g. {_EXAMPLE}")
    partition = _name(checker, section, "partition")
    account = _name(checker, section, "account") if section.get("account") is not None else None
    if isinstance(section["time"], int) and not isinstance(section["time"], bool):
        raise doc.error("slurm.time", f"got the number {section['time']}; unquoted, YAML reads 1:30:00 as one",
                        hint='quote it: time: "01:30:00" (or "90" for minutes)')
    time = checker._string(section, "time", where="slurm.time")
    if not _TIME.match(time):
        raise doc.error("slurm.time", f"invalid time limit {time!r}",
                        hint='Slurm\'s formats: "MM", "HH:MM:SS", "D-HH:MM:SS", e.g. time: "02:00:00"')
    nodes = checker._integer(section, "nodes", "slurm.nodes", default=1, low=1)
    gpus = checker._integer(section, "gpus_per_node", "slurm.gpus_per_node", default=0, low=0)
    workdir = None
    if section.get("workdir") is not None:
        workdir = Path(_plain_text(checker, section, "workdir", "a folder on the shared filesystem")).expanduser()
        workdir = workdir if workdir.is_absolute() else (Path.cwd() / workdir)
    python = None
    if section.get("python") is not None:
        python = _plain_text(checker, section, "python", "the interpreter on the compute nodes")
    extra = _extra_sbatch(checker, section.get("extra_sbatch"))
    if data.get("sprint") is not None:
        raise doc.error("sprint", "sprints do not run on target slurm",
                        hint="run each experiment as its own pipeline, or use target local or linode")
    return SlurmSpec(partition=partition, account=account, time=time, nodes=nodes, gpus_per_node=gpus,
                     workdir=workdir, python=python, extra_sbatch=extra,
                     not_used=tuple(key for key in NOT_USED_ON_SLURM if data.get(key) is not None))


def _name(checker, section: dict, key: str) -> str:
    value = checker._string(section, key, where=f"slurm.{key}")
    if not _NAME.match(value):
        raise checker.doc.error(f"slurm.{key}", f"invalid {key} name {value!r}",
                                hint="letters, digits, _, . and -, as `sinfo`/`sacctmgr` show it")
    return value


def _plain_text(checker, section: dict, key: str, what: str) -> str:
    value = checker._string(section, key, where=f"slurm.{key}")
    if any(ch in value for ch in "\n\r\0"):
        raise checker.doc.error(f"slurm.{key}", f"{what} may not contain a line break or NUL",
                                hint="give a path on one line")
    return value


def _extra_sbatch(checker, value: Any) -> tuple[tuple[str, str | None], ...]:
    doc = checker.doc
    if value is None:
        return ()
    if not isinstance(value, list):
        raise doc.error("slurm.extra_sbatch", f"expected a list of sbatch options, got {kind_of(value)}",
                        hint='e.g. extra_sbatch: ["--mem=32G", "--constraint=a100"]')
    out = []
    for index, line in enumerate(value):
        where = f"slurm.extra_sbatch.{index}"
        if not isinstance(line, str) or any(ch in line for ch in "\n\r\0"):
            raise doc.error(where, f"expected one sbatch option on one line, got {kind_of(line)}",
                            hint='e.g. "--mem=32G"')
        match = _OPTION.match(line.strip().removeprefix("#SBATCH").strip())
        if match is None:
            raise doc.error(where, f"not an sbatch option: {line!r}",
                            hint='an option and its value, e.g. "--mem=32G" or "--constraint=a100"')
        option, argument = match.group(1), match.group(2)
        if option in _OWN_OPTIONS:
            key = _OWN_OPTIONS[option]
            raise doc.error(where, f"{option} is set by stager",
                            hint=f"set slurm.{key} instead" if key else "stager sets it for every run")
        out.append((option, argument.strip() if argument else None))
    return tuple(out)
