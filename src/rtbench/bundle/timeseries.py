"""`timeseries.csv`: one row per closed second, appended and flushed as the run goes."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rtbench.bundle.files import AppendFile
from rtbench.errors import BundleError

__all__ = ["TimeseriesWriter", "read_timeseries"]

Cell = int | float | str | None


class TimeseriesWriter(AppendFile):
    """Writes a CSV with a fixed column list; each row is flushed to disk when written.

    A row may leave columns out (they stay empty); a key that is not a column raises ValueError.
    """

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        if len(set(columns)) != len(columns):
            raise ValueError(f"duplicate timeseries columns: {list(columns)}")
        super().__init__(path, newline="")
        self.columns: tuple[str, ...] = tuple(columns)
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, restval="")
        self._writer.writeheader()
        self._file.flush()

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one row (None is written as an empty cell) and flush it."""
        self._writer.writerow({k: "" if v is None else v for k, v in row.items()})
        self._file.flush()


def _cell(text: str) -> Cell:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_timeseries(path: str | Path) -> list[dict[str, Cell]]:
    """The rows of a timeseries CSV, numbers parsed (int, else float), empty cells as None.

    A last line cut short by a killed run is dropped. Raises BundleError if the file is missing.
    """
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            rows = [row for row in reader]
    except OSError as exc:
        raise BundleError(f"cannot read timeseries {path}: {exc.strerror or exc}") from exc
    except csv.Error as exc:
        raise BundleError(f"malformed timeseries {path}: {exc}") from exc
    complete = [r for r in rows if None not in r.values() and None not in r]
    return [{c: _cell(r[c]) for c in columns} for r in complete]
