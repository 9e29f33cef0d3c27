"""Which layout a dataset folder has, and its splits opened as sources.

A folder holds one layout (see ``LAYOUTS``); its splits are ``train``, ``val``
and ``test`` (``t10k-*`` and ``test_batch`` are test).  A file that does not
open becomes a ``files`` problem of its split, so the checks still run on the
rest.  Other names (``valid``, ``validation``, ``dev``) are not recognised as
splits, and one folder never mixes two layouts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stager.data.formats.base import ArraySource, ChainSource, FileProblem, Source, SourceProblem
from stager.data.formats.cifar import open_cifar_batch
from stager.data.formats.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, open_idx
from stager.data.formats.images import ImageFolderSource, is_image
from stager.data.formats.npy import open_npy, open_npz_member
from stager.data.formats.tabular import CsvFeatureSource, CsvTable, csv_labels
from stager.errors import UsageError
from stager.examples.formats import CIFAR_DIRNAME, CIFAR_TEST_BATCH, MNIST_FILES

SPLITS = ("train", "val", "test")

LAYOUTS = {
    "npz": "train.npz and val.npz (test.npz optional), each with arrays x and y",
    "npy-pairs": "train_x.npy + train_y.npy and val_x.npy + val_y.npy (test_* optional)",
    "csv": "train.csv and val.csv (test.csv optional) with a header row and a label column",
    "cifar": f"CIFAR-10 python batches data_batch_* (train) and test_batch, here or in {CIFAR_DIRNAME}/",
    "idx": "MNIST IDX files train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and t10k-* (test), "
           "or train/ and val/ folders each holding a *-images-idx3-ubyte and *-labels-idx1-ubyte pair",
    "image-folders": "train/ and val/ folders with one subfolder of PNG/JPEG images per class",
}


@dataclass
class SplitData:
    name: str  # train | val | test
    x: Source | None  # None when no input file of the split opened
    y: Source | None  # None when the split has no labels (or they did not open)
    files: list[str] = field(default_factory=list)  # the split's files, relative to the root
    columns: list[str] | None = None  # CSV: the numeric feature columns, in order
    class_names: list[str] | None = None  # image folders and CSV text labels: label i is class_names[i]


@dataclass
class Dataset:
    root: Path
    layout: str  # a key of LAYOUTS
    splits: dict[str, SplitData]  # in SPLITS order
    problems: list[tuple[str | None, SourceProblem]] = field(default_factory=list)  # (split, problem) found opening


def describe_layouts() -> str:
    return "; ".join(f"{name}: {text}" for name, text in LAYOUTS.items())


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _mnist_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _mnist_folder(root: Path) -> Path | None:
    for folder in (root, root / "MNIST" / "raw"):
        if any(_mnist_file(folder, name) for name in MNIST_FILES.values()):
            return folder
    return None


def _cifar_folder(root: Path) -> Path | None:
    for folder in (root / CIFAR_DIRNAME, root):
        if folder.is_dir() and (any(folder.glob("data_batch_*")) or (folder / CIFAR_TEST_BATCH).is_file()):
            return folder
    return None


def _split_dir_kind(folder: Path) -> str | None:
    entries = _visible(folder)
    if any(re.search(r"-images-idx3-ubyte(\.gz)?$", p.name) for p in entries if p.is_file()):
        return "idx"
    if any(p.is_dir() and any(is_image(f) for f in p.iterdir()) for p in entries):
        return "image-folders"
    if entries and all(p.is_dir() for p in entries):
        return "image-folders"  # class folders, all empty: reported as missing classes
    return None


def detect_layout(root: Path) -> str:
    """The layout of ``root``.

    Raises:
        UsageError: the folder is missing, empty, of no known layout, or mixes two.
    """
    if not root.exists():
        raise UsageError(f"{root}: no such folder")
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder; give the dataset folder that holds the split files")
    entries = _visible(root)
    if not entries:
        raise UsageError(f"{root}: the folder is empty; accepted layouts: {describe_layouts()}")
    found: list[str] = []
    if any((root / f"{s}.npz").is_file() for s in SPLITS):
        found.append("npz")
    if any((root / f"{s}_{a}.npy").is_file() for s in SPLITS for a in "xy"):
        found.append("npy-pairs")
    if any((root / f"{s}.csv").is_file() for s in SPLITS):
        found.append("csv")
    if _cifar_folder(root):
        found.append("cifar")
    if _mnist_folder(root):
        found.append("idx")
    kinds = {_split_dir_kind(root / s) for s in SPLITS if (root / s).is_dir()} - {None}
    found.extend(k for k in sorted(kinds) if k not in found)
    if not found:
        seen = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:8])
        more = f" and {len(entries) - 8} more" if len(entries) > 8 else ""
        raise UsageError(f"{root}: no known dataset layout (found {seen}{more}); "
                         f"accepted layouts: {describe_layouts()}")
    if len(found) > 1:
        raise UsageError(f"{root}: mixes the layouts {' and '.join(found)}; keep one layout per dataset folder")
    return found[0]


class _Opener:
    """Opens files, turning failures into problems of the split being opened."""

    def __init__(self, root: Path):
        self.root = root
        self.problems: list[tuple[str | None, SourceProblem]] = []

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def open(self, split: str, path: Path, opener, *args):
        try:
            return opener(path, self.rel(path), *args)
        except FileProblem as exc:
            self.problems.append((split, SourceProblem("files", self.rel(path), str(exc))))
            return None

    def missing(self, split: str, name: str, why: str) -> None:
        self.problems.append((split, SourceProblem("files", name, f"missing ({why})")))


def _chain(sources: list[Source | None]) -> Source | None:
    kept = [s for s in sources if s is not None]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else ChainSource(kept)


def _open_npz(root: Path, op: _Opener) -> dict[str, SplitData]:
    splits = {}
    for s in SPLITS:
        path = root / f"{s}.npz"
        if path.is_file():
            x = op.open(s, path, open_npz_member, "x")
            y = op.open(s, path, open_npz_member, "y") if x is not None else None
            splits[s] = SplitData(s, x, y, [op.rel(path)])
    return splits


def _open_npy_pairs(root: Path, op: _Opener) -> dict[str, SplitData]:
    splits = {}
    for s in SPLITS:
        x_path, y_path = root / f"{s}_x.npy", root / f"{s}_y.npy"
        if not x_path.is_file() and not y_path.is_file():
            continue
        x = op.open(s, x_path, open_npy) if x_path.is_file() else None
        y = op.open(s, y_path, open_npy) if y_path.is_file() else None
        if not x_path.is_file():
            op.missing(s, x_path.name, f"{y_path.name} has labels but there are no inputs")
        if not y_path.is_file():
            op.missing(s, y_path.name, f"{x_path.name} has no labels")
        splits[s] = SplitData(s, x, y, [op.rel(p) for p in (x_path, y_path) if p.is_file()])
    return splits


def _open_csv(root: Path, op: _Opener, label_column: str) -> dict[str, SplitData]:
    tables = {}
    for s in SPLITS:
        path = root / f"{s}.csv"
        if path.is_file():
            tables[s] = op.open(s, path, CsvTable, label_column)
    opened = {s: t for s, t in tables.items() if t is not None}
    labels, names = csv_labels(opened)
    splits = {}
    for s, table in tables.items():
        if table is None:
            splits[s] = SplitData(s, None, None, [f"{s}.csv"])
        else:
            splits[s] = SplitData(s, CsvFeatureSource(table), labels.get(s), [table.rel],
                                  columns=table.columns, class_names=names)
    return splits


def _open_cifar(root: Path, op: _Opener) -> dict[str, SplitData]:
    folder = _cifar_folder(root)
    number = lambda p: int(m.group(1)) if (m := re.search(r"(\d+)$", p.name)) else 0  # noqa: E731
    groups = {
        "train": sorted((p for p in folder.glob("data_batch_*") if p.is_file()), key=number),
        "test": [folder / CIFAR_TEST_BATCH] if (folder / CIFAR_TEST_BATCH).is_file() else [],
    }
    splits = {}
    for s, paths in groups.items():
        if not paths:
            continue
        opened = [op.open(s, p, open_cifar_batch) for p in paths]
        opened = [o for o in opened if o is not None]
        x = _chain([o[0] for o in opened])
        y = _chain([o[1] for o in opened])
        splits[s] = SplitData(s, x, y, [op.rel(p) for p in paths])
    return splits


def _idx_pair(op: _Opener, split: str, images: Path | None, labels: Path | None, want: str) -> tuple:
    if images is None or labels is None:
        op.missing(split, want, f"{'images' if images is None else 'labels'} of the pair")
    x = op.open(split, images, open_idx, IDX_IMAGES_MAGIC) if images else None
    y = op.open(split, labels, open_idx, IDX_LABELS_MAGIC) if labels else None
    return x, y


def _open_idx(root: Path, op: _Opener) -> dict[str, SplitData]:
    splits = {}
    top = _mnist_folder(root)
    if top is not None:
        for s, prefix in (("train", "train"), ("test", "test")):
            images = _mnist_file(top, MNIST_FILES[f"{prefix}_images"])
            labels = _mnist_file(top, MNIST_FILES[f"{prefix}_labels"])
            if images or labels:
                want = MNIST_FILES[f"{prefix}_labels" if images else f"{prefix}_images"]
                x, y = _idx_pair(op, s, images, labels, want)
                splits[s] = SplitData(s, x, y, [op.rel(p) for p in (images, labels) if p])
        return splits
    for s in SPLITS:
        folder = root / s
        if not folder.is_dir():
            continue
        xs, ys, files = [], [], []
        for images in sorted(p for p in folder.iterdir() if re.search(r"-images-idx3-ubyte(\.gz)?$", p.name)):
            label_name = images.name.replace("-images-idx3-ubyte", "-labels-idx1-ubyte")
            labels = folder / label_name if (folder / label_name).is_file() else None
            x, y = _idx_pair(op, s, images, labels, f"{s}/{label_name}")
            if x is not None:
                xs.append(x)
                ys.append(y)
            files += [op.rel(p) for p in (images, labels) if p]
        # Labels only when every pair's opened: a gap would shift every later label onto the wrong image.
        labels_ok = all(y is not None for y in ys)
        splits[s] = SplitData(s, _chain(xs), _chain(ys) if labels_ok else None, files)
    return splits


def _open_image_folders(root: Path, op: _Opener) -> dict[str, SplitData]:
    split_dirs = {s: root / s for s in SPLITS if (root / s).is_dir()}
    classes = sorted({p.name for d in split_dirs.values() for p in _visible(d) if p.is_dir()})
    splits = {}
    for s, folder in split_dirs.items():
        files: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(classes):
            class_dir = folder / name
            if class_dir.is_dir():
                found = sorted(p for p in class_dir.iterdir() if is_image(p))
                files += found
                labels += [label] * len(found)
        stray = [p for p in _visible(folder) if is_image(p)]
        if stray:
            op.problems.append((s, SourceProblem(
                "files", op.rel(folder), f"{len(stray)} images outside a class folder were left out "
                f"(e.g. {stray[0].name})", level="info")))
        x = ImageFolderSource(root, files, op.rel(folder))
        y = ArraySource(np.array(labels, dtype=np.int64), op.rel(folder))
        splits[s] = SplitData(s, x, y, [op.rel(p) for p in files], class_names=classes)
    return splits


def open_dataset(root: Path, label_column: str = "label") -> Dataset:
    """Detect the layout of ``root`` and open every split.

    Raises:
        UsageError: see ``detect_layout``.
    """
    root = Path(root)
    layout = detect_layout(root)
    op = _Opener(root)
    if layout == "npz":
        splits = _open_npz(root, op)
    elif layout == "npy-pairs":
        splits = _open_npy_pairs(root, op)
    elif layout == "csv":
        splits = _open_csv(root, op, label_column)
    elif layout == "cifar":
        splits = _open_cifar(root, op)
    elif layout == "idx":
        splits = _open_idx(root, op)
    else:
        splits = _open_image_folders(root, op)
    ordered = {s: splits[s] for s in SPLITS if s in splits}
    return Dataset(root, layout, ordered, op.problems)
