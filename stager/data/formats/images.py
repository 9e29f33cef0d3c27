"""Image folders (one subfolder per class) as sources, decoded with Pillow.

Samples are numbered in a fixed order: classes sorted by name, files sorted by
name within a class.  Opening the source reads only each image's header (for
its size and mode); ``blocks`` decodes every pixel (``Image.load``), so a
truncated or corrupt file is found even when its header is intact.  Pixels come
out as Pillow gives them: ``L`` as (H, W), ``RGB``/``RGBA``/``LA`` as
(H, W, bands), 16- and 32-bit modes as wider integers or floats; palette, CMYK
and other modes are converted to RGB (RGBA when the palette has transparency).
Animated images count as their first frame only.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stager.data.formats.base import Block, Source, SourceProblem

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_KEPT_MODES = {"L", "LA", "RGB", "RGBA", "I;16", "I", "F"}
_DTYPES = {"I;16": np.uint16, "I": np.int32, "F": np.float32}


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _target_mode(mode: str, info: dict) -> str:
    if mode in _KEPT_MODES:
        return mode
    if mode == "1":
        return "L"
    if mode in ("P", "PA") and ("transparency" in info or mode == "PA"):
        return "RGBA"
    return "RGB"


def _shape_of(size: tuple[int, int], mode: str) -> tuple[int, ...]:
    from PIL import Image

    width, height = size
    bands = Image.getmodebands(mode)
    return (height, width) if bands == 1 else (height, width, bands)


class ImageFolderSource(Source):
    """The images of one split folder; label ``i`` of each sample is its class folder's position."""

    has_sample_names = True

    def __init__(self, root: Path, files: list[Path], folder: str):
        from PIL import Image

        self.root = root
        self.files = files
        self.names = [p.relative_to(root).as_posix() for p in files]
        shapes: list[tuple[int, ...] | None] = []
        dtypes: Counter = Counter()
        problems: list[SourceProblem] = []
        for index, path in enumerate(files):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # Pillow warns of odd but readable files
                    with Image.open(path) as img:
                        mode = _target_mode(img.mode, img.info)
                        shapes.append(_shape_of(img.size, mode))
                        dtypes[np.dtype(_DTYPES.get(mode, np.uint8))] += 1
            except Exception as exc:  # Pillow raises many types for a bad header
                shapes.append(None)
                problems.append(SourceProblem("files", self.names[index], _why(exc), (index,)))
        counts = Counter(s for s in shapes if s is not None)
        common = counts.most_common(1)[0][0] if counts else (0, 0)
        dtype = dtypes.most_common(1)[0][0] if dtypes else np.dtype(np.uint8)
        super().__init__([folder], [len(files)], common, dtype)
        self.shapes = shapes  # per sample, None when the header did not read
        if len(counts) > 1:
            self.shape_counts = dict(counts)
        self.problems.extend(problems)
        self._reported: set[int] = set()

    def sample_names(self, indices) -> list[str]:
        return [self.names[int(i)] for i in indices]

    def _decode(self, index: int) -> np.ndarray | None:
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(self.files[index]) as img:
                    img.load()  # decodes every pixel: a truncated file fails here, not at open
                    mode = _target_mode(img.mode, img.info)
                    return np.asarray(img if img.mode == mode else img.convert(mode))
        except Exception as exc:
            if index not in self._reported:  # reading a sample again (``take``) reports it once
                self._reported.add(index)
                self.problems.append(SourceProblem("files", self.names[index], _why(exc), (index,)))
            return None

    def _walk(self, indices, chunk_bytes: int) -> Iterator[Block]:
        batch: list[np.ndarray] = []
        batch_indices: list[int] = []
        used = 0
        for index in indices:
            if self.shapes[index] is None:
                continue  # the header did not read: already a problem
            pixels = self._decode(int(index))
            if pixels is None:
                continue
            if batch and (pixels.shape != batch[0].shape or pixels.dtype != batch[0].dtype or used >= chunk_bytes):
                yield Block(np.array(batch_indices, dtype=np.int64), np.stack(batch))
                batch, batch_indices, used = [], [], 0
            batch.append(pixels)
            batch_indices.append(int(index))
            used += pixels.nbytes
        if batch:
            yield Block(np.array(batch_indices, dtype=np.int64), np.stack(batch))

    def _blocks(self, chunk_bytes: int) -> Iterator[Block]:
        return self._walk(range(self.length), chunk_bytes)

    def _take(self, indices: np.ndarray, chunk_bytes: int) -> Iterator[Block]:
        return self._walk(indices, chunk_bytes)


def _why(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"not a decodable image ({text})"
