"""Readers and writers of the MNIST IDX and CIFAR-10 python-pickle file formats.

Only what the two examples need is supported: IDX files of unsigned bytes
(dtype code 0x08; the other IDX dtypes raise UsageError), plain or gzip, and the
CIFAR-10 "python version" batches.  The CIFAR-10 binary version and CIFAR-100
(``fine_labels``) are not supported.  Every reader validates what it reads and
turns a corrupt or truncated file into a one-line ``UsageError`` naming the file.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from stager.errors import UsageError

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

CIFAR_DIRNAME = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"
CIFAR_LABEL_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR_ROW = 3 * 32 * 32  # one image: the R plane, then G, then B, each row-major 32x32


# -- IDX (MNIST) -------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:  # gzip reports corruption as OSError/EOFError
        raise UsageError(f"{path}: cannot read ({exc})") from None


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """An IDX file as a uint8 array of the shape its header gives.

    ``magic``, when given, is the exact header word required (for example
    ``IDX_IMAGES_MAGIC``), so a labels file passed as images is refused.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise UsageError(f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    (word,) = struct.unpack(">I", raw[:4])
    if magic is not None and word != magic:
        raise UsageError(f"{path}: bad IDX magic 0x{word:08x}, expected 0x{magic:08x}")
    zero, dtype_code, ndim = word >> 16, (word >> 8) & 0xFF, word & 0xFF
    if zero != 0 or ndim == 0:
        raise UsageError(f"{path}: not an IDX file (magic 0x{word:08x})")
    if dtype_code != 0x08:
        raise UsageError(f"{path}: IDX dtype 0x{dtype_code:02x} is not supported (only unsigned bytes, 0x08)")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise UsageError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    expected = int(np.prod(shape, dtype=np.int64))
    got = len(raw) - header_len
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes after"
        raise UsageError(f"{path}: {what} IDX data: header {tuple(shape)} needs {expected} bytes, file has {got}")
    # A copy: frombuffer over bytes is read-only, which torch.from_numpy warns about.
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as IDX (gzip when the name ends in .gz); returns the path."""
    path = Path(path)
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX writer takes a uint8 array with 1..255 dimensions, got {array.dtype} {array.shape}")
    header = struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape)
    payload = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        # mtime=0 keeps the bytes reproducible for a given array.
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def find_mnist_file(data_dir: str | Path, name: str) -> Path | None:
    """``data_dir/name`` or ``data_dir/name.gz``, also under torchvision's
    ``MNIST/raw`` layout; None when absent."""
    data_dir = Path(data_dir)
    for folder in (data_dir, data_dir / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_mnist_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of ``split`` "train" or "test"."""
    images_name, labels_name = MNIST_FILES[f"{split}_images"], MNIST_FILES[f"{split}_labels"]
    images_path = find_mnist_file(data_dir, images_name)
    labels_path = find_mnist_file(data_dir, labels_name)
    if images_path is None or labels_path is None:
        missing = images_name if images_path is None else labels_name
        raise UsageError(f"{data_dir}: no {missing} (plain or .gz) in this folder")
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC).astype(np.int64)
    if len(images) != len(labels):
        raise UsageError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
    if labels.size and labels.max() > 9:
        raise UsageError(f"{labels_path}: label {labels.max()} outside 0..9")
    return images, labels


# -- CIFAR-10 python pickles ---------------------------------------------------


def _latin1_encode(text: str, encoding: str) -> bytes:
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(text, "latin1"); no other codec is let through.
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with codec {encoding!r}")
    return text.encode("latin1")


_ndarray_reconstruct = np.ndarray((0,)).__reduce__()[0]
_ndarray_frombuffer = np.ndarray((0,)).__reduce_ex__(5)[0]

# The only globals a CIFAR-10 batch needs: numpy's array and dtype reconstruction,
# under both the numpy 1 (numpy.core) and numpy 2 (numpy._core) module names.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _ndarray_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _ndarray_frombuffer,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the numpy globals listed above.

    Anything else (``os.system``, ``builtins.eval``, a class of the caller's)
    raises ``pickle.UnpicklingError`` before it is ever looked up, so loading an
    untrusted batch cannot run code.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def restricted_load(path: str | Path) -> Any:
    """Unpickle ``path`` with ``RestrictedUnpickler``; str from Python 2 stays bytes,
    as in the original CIFAR files.  Any failure is a UsageError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # a corrupt pickle can fail with almost any exception type
        raise UsageError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None


def _field(batch: dict, key: str) -> Any:
    # Original files have bytes keys; accept str keys from re-pickled copies.
    return batch[key.encode()] if key.encode() in batch else batch[key]


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR-10 batch file."""
    path = Path(path)
    batch = restricted_load(path)
    try:
        if not isinstance(batch, dict):
            raise ValueError(f"a {type(batch).__name__}, not a dict")
        data, labels = _field(batch, "data"), _field(batch, "labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_ROW:
            kind = getattr(data, "dtype", type(data).__name__)
            raise ValueError(f"data must be uint8 N x {CIFAR_ROW}, got {kind} {getattr(data, 'shape', '')}")
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(data),):
            raise ValueError(f"{labels.size} labels for {len(data)} images")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError("labels outside 0..9")
    except KeyError as exc:
        raise UsageError(f"{path}: not a CIFAR-10 batch (no key {exc})") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not a CIFAR-10 batch ({exc})") from None
    return data.reshape(-1, 3, 32, 32), labels


def write_cifar_batch(
    path: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    batch_label: str,
    filenames: list[str] | None = None,
) -> Path:
    """Write (N, 3, 32, 32) uint8 ``images`` and their labels as a CIFAR-10 batch.

    Keys and strings are bytes, as Python 2 wrote them in the original files;
    protocol 4 keeps the pickle free of ``_codecs`` references.
    """
    path = Path(path)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"CIFAR writer takes uint8 images (N, 3, 32, 32), got {images.dtype} {images.shape}")
    if filenames is None:
        filenames = [f"image_{i:06d}.png" for i in range(len(images))]
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(x) for x in labels],
        b"data": np.ascontiguousarray(images.reshape(len(images), CIFAR_ROW)),
        b"filenames": [name.encode() for name in filenames],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(batch, protocol=4))
    return path


def write_cifar_meta(path: str | Path, num_cases_per_batch: int, label_names=CIFAR_LABEL_NAMES) -> Path:
    path = Path(path)
    meta = {
        b"num_cases_per_batch": int(num_cases_per_batch),
        b"label_names": [name.encode() for name in label_names],
        b"num_vis": CIFAR_ROW,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(meta, protocol=4))
    return path


def read_cifar_meta(path: str | Path) -> list[str]:
    """The ten class names of a ``batches.meta`` file."""
    path = Path(path)
    meta = restricted_load(path)
    try:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in _field(meta, "label_names")]
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise UsageError(f"{path}: not a CIFAR-10 batches.meta (no readable label_names)") from None
    if len(names) != 10:
        raise UsageError(f"{path}: {len(names)} label names, CIFAR-10 has 10")
    return names


def find_cifar_dir(data_dir: str | Path) -> Path | None:
    """The folder holding the batch files: ``data_dir/cifar-10-batches-py`` (the
    layout of the official tarball, and what the generator writes) or ``data_dir``
    itself; None when neither has ``data_batch_1``."""
    data_dir = Path(data_dir)
    for folder in (data_dir / CIFAR_DIRNAME, data_dir):
        if (folder / CIFAR_TRAIN_BATCHES[0]).is_file():
            return folder
    return None


def read_cifar_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of ``split`` "train"
    (every ``data_batch_*`` present, in order) or "test"."""
    folder = find_cifar_dir(data_dir)
    if folder is None:
        raise UsageError(f"{data_dir}: no {CIFAR_TRAIN_BATCHES[0]} here or in {CIFAR_DIRNAME}/")
    if split == "train":
        paths = [folder / name for name in CIFAR_TRAIN_BATCHES if (folder / name).is_file()]
    else:
        paths = [folder / CIFAR_TEST_BATCH]
    parts = [read_cifar_batch(p) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
