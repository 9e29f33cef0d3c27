"""Why is this result different? Two runs from the ledger, compared section by section.

A result depends on what was asked (the resolved spec), what it trained on (the
datasets, by manifest digest and down to the file when both manifests are kept),
where it ran (image, versions, code) and what it cost; the final metrics are the
result itself. ``diff_runs`` lists every difference in each of those, and nothing
else, so an empty section is a claim: "this did not change".

Not compared: events other than the final metrics, artifacts (they are outputs,
and differ whenever anything does), resource ids and times. The spec's
``pipeline`` field (where the pipeline file lay) is left out: it names a place,
not what the file said.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from stager.ledger.records import RunRecord
from stager.storage.manifest import FileEntry, Manifest, ManifestStore

__all__ = ["IGNORED_SPEC_PATHS", "SECTIONS", "Change", "RunDiff", "diff_runs", "flatten"]

SECTIONS = ("spec", "data", "image", "environment", "code", "cost", "metrics")
# Spec fields that differ between any two runs without changing what was trained.
IGNORED_SPEC_PATHS = frozenset({"pipeline"})


@dataclass(frozen=True)
class Change:
    path: str  # dotted spec path, dataset (or dataset/file), or field name
    a: Any  # the value in run A; None when kind is "added"
    b: Any  # the value in run B; None when kind is "removed"
    kind: str = "changed"  # changed | added (only in B) | removed (only in A)
    delta: float | None = None  # b - a, for numbers where a difference means something (metrics, costs)
    note: str = ""  # what else to know, e.g. that a manifest is not in the store

    def to_json(self) -> dict:
        data = {"path": self.path, "kind": self.kind, "a": self.a, "b": self.b}
        if self.delta is not None:
            data["delta"] = self.delta
        if self.note:
            data["note"] = self.note
        return data

    def line(self) -> str:
        if self.kind == "added":
            text = f"{self.path}: (absent) -> {_show(self.b)}"
        elif self.kind == "removed":
            text = f"{self.path}: {_show(self.a)} -> (absent)"
        else:
            text = f"{self.path}: {_show(self.a)} -> {_show(self.b)}"
        if self.delta is not None:
            text += f" ({self.delta:+.6g})"
        return f"{text}; {self.note}" if self.note else text


@dataclass(frozen=True)
class RunDiff:
    a: str  # run A's id
    b: str  # run B's id
    spec: tuple[Change, ...] = ()  # the resolved pipeline, by dotted path
    data: tuple[Change, ...] = ()  # datasets by digest, then their files (``name/path``)
    image: tuple[Change, ...] = ()  # image id and recipe hash
    environment: tuple[Change, ...] = ()  # versions (stager, torch, python, ...), the instance's packages
    code: tuple[Change, ...] = ()  # the project's git commit and dirtiness
    cost: tuple[Change, ...] = ()  # estimated, actual and billed dollars; billed instance-hours
    metrics: tuple[Change, ...] = ()  # final metrics of training, with B - A

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in SECTIONS)

    def sections(self) -> dict[str, tuple[Change, ...]]:
        return {name: getattr(self, name) for name in SECTIONS}

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "empty": self.empty,
                **{name: [c.to_json() for c in changes] for name, changes in self.sections().items()}}

    def lines(self) -> list[str]:
        """The diff for a terminal: a header, then each section that differs, then those that do not."""
        out = [f"A: {self.a}", f"B: {self.b}"]
        same = []
        for name, changes in self.sections().items():
            if not changes:
                same.append(name)
                continue
            out.append("")
            out.append(f"{name} ({len(changes)} difference{'s' if len(changes) != 1 else ''})")
            out += [f"  {c.line()}" for c in changes]
        out.append("")
        if not same:
            return out[:-1]
        out.append(f"no differences in {', '.join(same)}" if len(same) < len(SECTIONS) else
                   "no differences: same spec, data, image, environment, code, cost and final metrics")
        return out


def diff_runs(a: RunRecord, b: RunRecord, *, manifests: ManifestStore | None) -> RunDiff:
    """What differs from run ``a`` to run ``b``; ``manifests`` lets data differences name files."""
    return RunDiff(
        a=a.id,
        b=b.id,
        spec=_compare(_spec(a), _spec(b)),
        data=_data(a, b, manifests),
        image=_compare(_image(a), _image(b)),
        environment=_compare(_environment(a), _environment(b)),
        code=_compare(_code(a), _code(b)),
        cost=_compare(_cost(a), _cost(b), numeric=True),
        metrics=_compare(_metrics(a), _metrics(b), numeric=True),
    )


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as ``{"a.b[0].c": leaf}``; empty containers are leaves themselves."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _compare(a: dict[str, Any], b: dict[str, Any], *, numeric: bool = False) -> tuple[Change, ...]:
    """Changes between two flat dicts, in A's key order, then B's new keys."""
    changes = []
    for key in [*a, *(k for k in b if k not in a)]:
        if key not in b:
            changes.append(Change(key, a[key], None, "removed"))
        elif key not in a:
            changes.append(Change(key, None, b[key], "added"))
        elif a[key] != b[key] or type(a[key]) is not type(b[key]) and not _both_numbers(a[key], b[key]):
            delta = round(b[key] - a[key], 10) if numeric and _both_numbers(a[key], b[key]) else None
            changes.append(Change(key, a[key], b[key], delta=delta))
    return tuple(changes)


def _both_numbers(x: Any, y: Any) -> bool:
    # bool is an int to Python, but True -> False is not a difference of 1
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))


def _spec(run: RunRecord) -> dict[str, Any]:
    return {k: v for k, v in flatten(run.spec).items() if k.split(".", 1)[0].split("[", 1)[0]
            not in IGNORED_SPEC_PATHS}


def _image(run: RunRecord) -> dict[str, Any]:
    if not run.images:
        return {}
    latest = run.images[-1]  # a resumed run may record its image again; the last one trained
    return {"image_id": latest.image_id, "recipe_hash": latest.recipe_hash}


def _environment(run: RunRecord) -> dict[str, Any]:
    """The controller's versions, then what the training instance had, package by package."""
    found: dict[str, Any] = dict(run.versions)
    instance = run.instance_environment or {}
    if "python" in instance:
        found["instance.python"] = instance["python"]
    found.update({f"package.{name}": version for name, version in (instance.get("packages") or {}).items()})
    return found


def _code(run: RunRecord) -> dict[str, Any]:
    git = run.git or {}
    return {"git.commit": git.get("commit"), "git.dirty": git.get("dirty")} if git else {"git": "not a git checkout"}


def _cost(run: RunRecord) -> dict[str, Any]:
    instances = [r for r in run.resources if r.kind == "instance" and r.billed_hours is not None]
    return {"estimated_usd": run.estimated_usd, "actual_usd": run.actual_usd, "billed_usd": run.billed_usd,
            "billed_instance_hours": sum(r.billed_hours or 0 for r in instances) if instances else None}


def _metrics(run: RunRecord) -> dict[str, Any]:
    ended = [e for e in run.events if e.kind == "train.ended"]
    return dict(sorted((ended[-1].data.get("metrics") or {}).items())) if ended else {}


def _data(a: RunRecord, b: RunRecord, store: ManifestStore | None) -> tuple[Change, ...]:
    # A run may validate a dataset again when resumed: the last record is what it trained on.
    digests_a = {d.name: d.digest for d in a.datasets}
    digests_b = {d.name: d.digest for d in b.datasets}
    changes: list[Change] = []
    for change in _compare(digests_a, digests_b):
        if change.kind != "changed":
            changes.append(change)
            continue
        name = change.path
        old = store.get(name, change.a) if store is not None else None
        new = store.get(name, change.b) if store is not None else None
        missing = [f"{run}'s ({digest[:12]})" for run, digest, found in (("A", change.a, old), ("B", change.b, new))
                   if found is None]
        note = f"manifest {' and '.join(missing)} not in the store, so files cannot be named" if missing else ""
        changes.append(Change(name, change.a, change.b, note=note))
        if old is not None and new is not None:
            changes += _files(name, old, new)
    return tuple(changes)


def _files(name: str, old: Manifest, new: Manifest) -> list[Change]:
    """The files of one dataset that differ: content changed, added in B, removed from A."""
    found = new.diff(old)
    before, after = old.by_path(), new.by_path()
    changes = [Change(f"{name}/{p}", _file(before[p]), _file(after[p])) for p in found.changed]
    changes += [Change(f"{name}/{p}", None, _file(after[p]), "added") for p in found.added]
    changes += [Change(f"{name}/{p}", _file(before[p]), None, "removed") for p in found.removed]
    return changes


def _file(entry: FileEntry) -> dict:
    return {"sha256": entry.sha256, "size": entry.size}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict) and set(value) == {"sha256", "size"}:  # a dataset file
        return f"sha256 {value['sha256'][:12]}, {value['size']:,} bytes"
    return json.dumps(value, sort_keys=True)
