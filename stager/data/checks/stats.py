"""Per-split statistics of the inputs: what the manifest keeps and ``drift`` compares.

Image-like samples ((H, W), (C, H, W) or (H, W, C) with C in 1..4 and sides of
8 pixels or more) are summarised per channel.  Other samples are flattened to
features and summarised per feature, or, beyond ``MAX_FEATURES``, per group of
neighbouring features, so the statistics stay small whatever the sample size.
Sums are kept in float64 over finite values only; standard deviations come from
sums of squares, which loses precision when a feature's mean is more than
about 1e6 times its spread.
"""

from __future__ import annotations

import numpy as np

MAX_FEATURES = 256


def image_kind(sample_shape: tuple[int, ...]) -> str | None:
    """"gray", "chw" or "hwc" for image-like sample shapes, else None."""
    if len(sample_shape) == 2 and min(sample_shape) >= 8:
        return "gray"
    if len(sample_shape) == 3:
        if sample_shape[0] in (1, 3, 4) and min(sample_shape[1:]) >= 8:
            return "chw"
        if sample_shape[2] in (1, 2, 3, 4) and min(sample_shape[:2]) >= 8:
            return "hwc"
    return None


def _round(value: float) -> float | None:
    value = float(value)
    return float(f"{value:.6g}") if np.isfinite(value) else None


class InputStats:
    """Running sums of one split's inputs of the common sample shape.

    Each block is summed per flattened value position (contiguous rows reduce
    fast), then folded at once into channels or feature groups, so what is
    kept is at most ``MAX_FEATURES`` numbers per statistic.
    """

    def __init__(self, sample_shape: tuple[int, ...], dtype: np.dtype, columns: list[str] | None = None):
        self.sample_shape = sample_shape
        self.dtype = dtype
        self.columns = columns
        self.kind = image_kind(sample_shape)
        self.flat = int(np.prod(sample_shape, dtype=np.int64))
        if self.kind == "gray":
            width = 1
        elif self.kind == "chw":
            width = sample_shape[0]
        elif self.kind == "hwc":
            width = sample_shape[2]
        else:
            width = min(self.flat, MAX_FEATURES)
        self.grouped = self.kind is None and self.flat > MAX_FEATURES
        edges = np.linspace(0, self.flat, MAX_FEATURES + 1).astype(np.int64)
        self.edges = edges if self.grouped else None
        self.sums = np.zeros(width)
        self.squares = np.zeros(width)
        self.counts = np.zeros(width)
        self.samples = 0
        self.low = np.inf
        self.high = -np.inf

    def _fold(self, per_position: np.ndarray) -> np.ndarray:
        """Sums per flattened position -> sums per channel or feature (group)."""
        if self.kind == "gray":
            return per_position.sum(keepdims=True)
        if self.kind == "chw":
            return per_position.reshape(self.sample_shape[0], -1).sum(axis=1)
        if self.kind == "hwc":
            return per_position.reshape(-1, self.sample_shape[2]).sum(axis=0)
        if self.grouped:
            return np.add.reduceat(per_position, self.edges[:-1])
        return per_position

    def update(self, x: np.ndarray, finite: np.ndarray | None) -> tuple[float, float]:
        """Add a block (its rows of the common shape); ``finite`` is the elementwise mask
        when some values are NaN or Inf.  Returns the block's finite (min, max)."""
        self.samples += len(x)
        if x.size == 0:
            return np.inf, -np.inf
        if x.dtype == np.bool_:
            x = x.view(np.uint8)
        rows = x.reshape(len(x), -1)
        if finite is not None:
            mask = finite.reshape(len(x), -1)
            rows = np.where(mask, rows, 0)
            counts = mask.sum(axis=0, dtype=np.float64)
            kept = x[finite]
            low, high = (kept.min(), kept.max()) if kept.size else (np.inf, -np.inf)
        else:
            counts = np.full(rows.shape[1], float(len(rows)))
            low, high = x.min(), x.max()
        self.counts += self._fold(counts)
        self.sums += self._fold(rows.sum(axis=0, dtype=np.float64))
        self.squares += self._fold(np.einsum("ij,ij->j", rows, rows, dtype=np.float64, casting="unsafe"))
        low, high = float(low), float(high)
        self.low, self.high = min(self.low, low), max(self.high, high)
        return low, high

    def _names(self) -> list[str]:
        width = len(self.sums)
        if self.kind is not None:
            return ["gray"] if self.kind == "gray" else [f"channel {c}" for c in range(width)]
        if self.grouped:
            return [f"{a}-{b - 1}" for a, b in zip(self.edges[:-1], self.edges[1:], strict=True)]
        named = self.columns and len(self.columns) == width
        return list(self.columns) if named else [str(i) for i in range(width)]

    def to_json(self) -> dict:
        sums, squares, counts = self.sums, self.squares, self.counts
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
            stds = np.sqrt(np.maximum(squares / counts - means * means, 0.0))
            total = counts.sum()
            mean = sums.sum() / total if total else np.nan
            std = np.sqrt(max(squares.sum() / total - mean * mean, 0.0)) if total else np.nan
        if self.kind is not None:
            summary = "channels"
        else:
            summary = "feature-groups" if self.grouped else "features"
        return {
            "shape": list(self.sample_shape),
            "dtype": str(self.dtype),
            "samples": int(self.samples),
            "min": _round(self.low),
            "max": _round(self.high),
            "mean": _round(mean),
            "std": _round(std),
            "summary": summary,
            "names": self._names(),
            "means": [_round(m) for m in means],
            "stds": [_round(s) for s in stds],
        }
