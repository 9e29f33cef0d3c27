"""CSV files with a header row as sources: numeric feature columns and a label column.

The file is read twice as a stream, never whole: once when opened (to count
rows, collect labels and find rows with the wrong number of fields), then a
block at a time by the checks.  A column is a feature when most of its first
1,000 non-empty values are numbers; a column of text (names, ids) is left out
and noted.  Within a numeric column an empty cell reads as NaN (the ``finite``
check reports it) and a text cell as NaN reported by ``shapes``.  Labels may be
integers, numbers or class names (mapped to 0..K-1 in sorted order across the
splits; a missing class name reads as -1).  Quoted fields spanning lines are
read correctly but numbered as one sample; other delimiters than commas are not
supported.
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stager.data.formats.base import ArraySource, Block, FileProblem, Source, SourceProblem

_SNIFF_ROWS = 1000
_PY_CELL_BYTES = 64  # rough memory of one parsed cell as Python objects: bounds the rows read at once


def _rows(count: int) -> str:
    return f"{count} row" + ("" if count == 1 else "s")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class CsvTable:
    """A CSV file scanned once: header, row count, labels as text, rows to skip."""

    def __init__(self, path: Path, rel: str, label_column: str):
        self.path, self.rel = path, rel
        self.problems: list[SourceProblem] = []
        self.ragged: set[int] = set()  # rows with the wrong number of fields: left out of the features
        # Labels as codes into ``label_texts``: 4 bytes a row, however long the class names.
        codes = array("i")
        texts: dict[str, int] = {}
        sniff: list[list[str]] = []
        try:
            with open(path, encoding="utf-8", newline="") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                if not header:
                    raise FileProblem("empty: a CSV needs a header row")
                self.header = [h.strip() for h in header]
                self.label_pos = self.header.index(label_column) if label_column in self.header else None
                count = 0
                for row in reader:
                    if len(row) != len(self.header):
                        if not row:
                            continue  # a blank line is not a sample
                        self.ragged.add(count)
                    elif len(sniff) < _SNIFF_ROWS:
                        sniff.append(row)
                    if self.label_pos is not None:
                        text = row[self.label_pos].strip() if len(row) > self.label_pos else ""
                        codes.append(texts.setdefault(text, len(texts)))
                    count += 1
        except UnicodeDecodeError as exc:
            raise FileProblem(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise FileProblem(f"not readable CSV ({exc})") from None
        except OSError as exc:
            raise FileProblem(f"cannot read ({exc.strerror or exc})") from None
        self.length = count
        self.label_codes = np.frombuffer(codes, dtype=np.int32) if self.label_pos is not None else None
        self.label_texts = list(texts)  # code -> the label as written
        if self.label_pos is None:
            self.problems.append(SourceProblem(
                "shapes", rel, f"no label column `{label_column}` (columns: {', '.join(self.header)}); "
                "set label_column under validate"))
        if self.ragged:
            first = sorted(self.ragged)
            self.problems.append(SourceProblem(
                "shapes", rel, f"{_rows(len(first))} without the {len(self.header)} fields of the header",
                tuple(first[:_SNIFF_ROWS]), len(first)))
        self.feature_pos, self.text_columns = self._type_columns(sniff)
        if self.text_columns:
            self.problems.append(SourceProblem(
                "shapes", rel, f"text columns left out of the checks: {', '.join(self.text_columns)}", level="info"))

    def _type_columns(self, sniff: list[list[str]]) -> tuple[list[int], list[str]]:
        numeric, text = [], []
        for pos in range(len(self.header)):
            if pos == self.label_pos:
                continue
            values = [row[pos].strip() for row in sniff if row[pos].strip()]
            bad = sum(not _is_number(v) for v in values)
            (text if values and bad * 2 > len(values) else numeric).append(pos)
        return numeric, [self.header[p] for p in text]

    @property
    def columns(self) -> list[str]:
        return [self.header[p] for p in self.feature_pos]


class CsvFeatureSource(Source):
    """The numeric feature columns of a ``CsvTable`` as float64 rows."""

    def __init__(self, table: CsvTable):
        super().__init__([table.rel], [table.length], (len(table.feature_pos),), np.dtype(np.float64))
        self.table = table
        self.problems.extend(table.problems)
        self._bad_cells: dict[str, list] = {}  # column -> [first row indices, count]
        self._scanned = False

    def _rows(self, wanted, chunk_bytes: int) -> Iterator[Block]:
        """Blocks of the rows whose index is in ``wanted`` (None: every row)."""
        table, positions = self.table, self.table.feature_pos
        step = max(1, chunk_bytes // (_PY_CELL_BYTES * max(1, len(positions))))
        rows: list[list[str]] = []
        indices: list[int] = []
        with open(table.path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader, None)
            index = -1
            for row in reader:
                if not row:
                    continue
                index += 1
                if index in table.ragged or (wanted is not None and index not in wanted):
                    continue
                rows.append([row[p] for p in positions])
                indices.append(index)
                if len(rows) >= step:
                    yield self._parse(indices, rows)
                    rows, indices = [], []
        if rows:
            yield self._parse(indices, rows)

    def _parse(self, indices: list[int], rows: list[list[str]]) -> Block:
        try:
            values = np.array(rows, dtype=np.float64).reshape(len(rows), len(self.table.feature_pos))
        except ValueError:
            values = np.empty((len(rows), len(self.table.feature_pos)))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    values[r, c] = self._cell(cell, indices[r], c)
        return Block(np.array(indices, dtype=np.int64), values)

    def _cell(self, cell: str, index: int, column: int) -> float:
        cell = cell.strip()
        if not cell:
            return np.nan  # a missing value: the finite check reports it
        try:
            return float(cell)
        except ValueError:
            if not self._scanned:
                seen = self._bad_cells.setdefault(self.table.columns[column], [[], 0])
                if len(seen[0]) < _SNIFF_ROWS:
                    seen[0].append(index)
                seen[1] += 1
            return np.nan

    def _blocks(self, chunk_bytes: int) -> Iterator[Block]:
        yield from self._rows(None, chunk_bytes)
        if not self._scanned:
            for column, (first, count) in self._bad_cells.items():
                values = f"{count} value" + ("" if count == 1 else "s")
                self.problems.append(SourceProblem(
                    "shapes", self.table.rel, f"text in numeric column `{column}` ({values})", tuple(first), count))
        self._scanned = True

    def _take(self, indices: np.ndarray, chunk_bytes: int) -> Iterator[Block]:
        return self._rows(set(indices.tolist()), chunk_bytes)


def csv_labels(tables: dict[str, CsvTable]) -> tuple[dict[str, ArraySource], list[str] | None]:
    """Each split's labels as numbers, and the class names when the labels are text.

    Integers stay integers; numbers become float64 (an empty cell NaN); text is
    mapped to 0..K-1 by sorted class name over every split, so the same name is
    the same class everywhere.
    """
    labelled = {split: t for split, t in tables.items() if t.label_codes is not None}
    present = {v for t in labelled.values() for v in t.label_texts if v}
    has_missing = any("" in t.label_texts for t in labelled.values())
    names: list[str] | None = None
    if all(_is_int(v) for v in present):
        convert = lambda v: int(v) if v else np.nan  # noqa: E731
        dtype = np.float64 if has_missing else np.int64
    elif all(_is_number(v) for v in present):
        convert, dtype = (lambda v: float(v) if v else np.nan), np.float64
    else:
        names = sorted(present)
        class_of = {name: i for i, name in enumerate(names)}
        convert, dtype = (lambda v: class_of.get(v, -1)), np.int64
    out: dict[str, ArraySource] = {}
    for split, table in labelled.items():
        lookup = np.array([convert(v) for v in table.label_texts], dtype=dtype)
        out[split] = ArraySource(lookup[table.label_codes] if len(lookup) else np.empty(0, dtype), table.rel)
    return out, names


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
