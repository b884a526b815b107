"""`turns.jsonl` (--export-turns): one JSON object per turn that ended, appended as load processes
report them (within a second or two of the turn's end) and flushed at each batch, so a run killed
later keeps every row already written. Fields: SCHEMA.md, "turns.jsonl"."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rtbench.bundle.files import AppendFile
from rtbench.errors import BundleError

__all__ = ["TurnLog", "read_turns"]


class TurnLog(AppendFile):
    """Appends turn rows to a JSON-lines file, flushing after each batch."""

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._file.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        self._file.flush()


def read_turns(path: str | Path) -> list[dict[str, Any]]:
    """The rows of `path` in the order written; [] when there is no such file. A last line cut
    short by a killed run is dropped; any other bad line raises BundleError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read turns {path}: {exc}") from exc
    rows = []
    for number, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise BundleError(f"malformed turn on line {number} of {path}: {exc}") from None
        if not isinstance(row, dict):
            raise BundleError(f"malformed turn on line {number} of {path}: not an object")
        rows.append(row)
    return rows
