"""Reading a request trace: one request a row, with its time and its token counts.

Three layouts are read, by the file's content:
- rtbench's JSONL, a JSON object a line: `timestamp_ms`, `input_tokens`, `output_tokens` and an
  optional `conversation_id` (a string or an integer);
- Mooncake's JSONL: `timestamp` (ms), `input_length`, `output_length` (`hash_ids` ignored);
- BurstGPT's CSV (a `.csv` file with a header): `Timestamp` (seconds), `Request tokens`,
  `Response tokens`; rows with 0 tokens either way, or a `Log Type` that says it failed, are
  skipped and counted (`Trace.skipped`).

Blank lines are skipped, and other fields ignored. Times count from the first row (the earliest);
a trace out of time order is sorted by time, rows of the same time keeping their order in the file.
Every problem is one `ConfigError` line, `FILE:LINE: ...`: a missing or empty file, a line that is
not a JSON object, a missing or bad field, a negative time.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtbench.errors import ConfigError

__all__ = ["Trace", "TraceRow", "load_trace"]

#: (rtbench's name, Mooncake's name) of each JSONL field.
_TIME = ("timestamp_ms", "timestamp")
_INPUT = ("input_tokens", "input_length")
_OUTPUT = ("output_tokens", "output_length")
#: BurstGPT's CSV columns.
_CSV_TIME, _CSV_INPUT, _CSV_OUTPUT, _CSV_LOG = "Timestamp", "Request tokens", "Response tokens", "Log Type"


@dataclass(frozen=True)
class TraceRow:
    """One request of a trace."""

    #: The line of the file it was read from (1-based).
    line: int
    timestamp_ms: float
    input_tokens: int
    output_tokens: int
    #: Rows of one conversation are sent in order by one user, with their history; None: one turn.
    conversation_id: str | None = None


@dataclass(frozen=True)
class Trace:
    """A trace's rows in time order, and the lines of the rows it skipped."""

    path: str
    rows: tuple[TraceRow, ...]
    skipped: tuple[int, ...] = ()
    #: The file's rows were not in time order (they were sorted).
    sorted: bool = False

    @property
    def span_ms(self) -> float:
        """From the first row's time to the last's."""
        return self.rows[-1].timestamp_ms - self.rows[0].timestamp_ms


def load_trace(path: str | Path) -> Trace:
    """The trace in `path` (BurstGPT CSV for `.csv`, JSONL otherwise), rows sorted by time."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}:1: no such trace file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}:1: cannot read the trace: {exc}") from None
    lines = text.splitlines()
    if name.lower().endswith(".csv"):
        rows, skipped = _csv_rows(name, lines)
    else:
        rows, skipped = [_json_row(name, n, line) for n, line in enumerate(lines, 1) if line.strip()], []
    if not rows:
        what = f"no row to replay ({len(skipped)} skipped)" if skipped else "empty trace: no row to replay"
        raise ConfigError(f"{name}:{max(1, len(lines))}: {what}")
    ordered = sorted(rows, key=lambda row: row.timestamp_ms)
    return Trace(name, tuple(ordered), tuple(skipped), ordered != rows)


def _number(name: str, n: int, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{name}:{n}: {field}: expected a number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{name}:{n}: {field}: a negative timestamp ({value!r})")
    return float(value)


def _count(name: str, n: int, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}:{n}: {field}: expected an integer >= 1, got {value!r}")
    return value


def _field(name: str, n: int, data: dict[str, Any], names: tuple[str, str]) -> tuple[str, Any]:
    for field in names:
        if field in data:
            return field, data[field]
    raise ConfigError(f"{name}:{n}: no {names[0]} (or Mooncake's {names[1]})")


def _json_row(name: str, n: int, line: str) -> TraceRow:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}:{n}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:{n}: expected a JSON object a line, got {type(data).__name__}")
    stamp = _number(name, n, *_field(name, n, data, _TIME))
    inputs = _count(name, n, *_field(name, n, data, _INPUT))
    outputs = _count(name, n, *_field(name, n, data, _OUTPUT))
    conversation = data.get("conversation_id")
    if conversation is not None and (isinstance(conversation, bool) or not isinstance(conversation, (str, int))):
        raise ConfigError(f"{name}:{n}: conversation_id: expected a string or an integer, got {conversation!r}")
    return TraceRow(n, stamp, inputs, outputs, None if conversation is None else str(conversation))


def _csv_rows(name: str, lines: list[str]) -> tuple[list[TraceRow], list[int]]:
    """BurstGPT's rows (line numbers counting the header as 1), and the lines skipped."""
    reader = csv.reader(lines)
    header = [column.strip() for column in next(reader, [])]
    missing = [column for column in (_CSV_TIME, _CSV_INPUT, _CSV_OUTPUT) if column not in header]
    if missing:
        raise ConfigError(f"{name}:1: a BurstGPT CSV header needs the columns {', '.join(missing)}")
    at = {column: header.index(column) for column in (_CSV_TIME, _CSV_INPUT, _CSV_OUTPUT)}
    log = header.index(_CSV_LOG) if _CSV_LOG in header else None
    rows: list[TraceRow] = []
    skipped: list[int] = []
    for n, cells in enumerate(reader, 2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) < len(header):
            raise ConfigError(f"{name}:{n}: {len(cells)} columns, the header has {len(header)}")
        stamp = _number(name, n, _CSV_TIME, _parsed(name, n, _CSV_TIME, cells[at[_CSV_TIME]], float))
        inputs = _parsed(name, n, _CSV_INPUT, cells[at[_CSV_INPUT]], int)
        outputs = _parsed(name, n, _CSV_OUTPUT, cells[at[_CSV_OUTPUT]], int)
        if inputs < 0 or outputs < 0:
            raise ConfigError(f"{name}:{n}: negative token counts ({inputs}, {outputs})")
        failed = log is not None and "fail" in cells[log].lower()
        if failed or inputs == 0 or outputs == 0:
            skipped.append(n)
            continue
        rows.append(TraceRow(n, stamp * 1000.0, inputs, outputs))
    return rows, skipped


def _parsed(name: str, n: int, column: str, cell: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(cell.strip())
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name}:{n}: {column}: expected {what}, got {cell!r}") from None
