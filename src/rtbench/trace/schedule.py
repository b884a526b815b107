"""Planning a trace's sends: when each row goes, which rows go together, and to which process.

A row is planned `(timestamp - first timestamp) / speed` after the trace's start. The rows of one
conversation make one `Unit`, sent in order by one user; a row without a conversation id is a unit
of its own. Units are handed out in the order of their first row, and split over the load
processes by that order (unit i to process i mod N), so that a conversation stays on one process
and every row goes to exactly one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from rtbench.trace.replay import Trace

__all__ = ["PlannedRow", "Unit", "plan_units", "shard"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class PlannedRow:
    """One row as it is sent: seconds after the trace's start, and its sizes."""

    offset_s: float
    input_tokens: int
    output_tokens: int
    line: int


@dataclass(frozen=True)
class Unit:
    """The rows one user sends in order: one conversation, or a single row."""

    conversation_id: str | None
    rows: tuple[PlannedRow, ...]

    @property
    def start_s(self) -> float:
        return self.rows[0].offset_s


def plan_units(trace: Trace, speed: float) -> tuple[Unit, ...]:
    """The trace's units at `speed` (> 0), in the order of their first row."""
    if not speed > 0:
        raise ValueError(f"a speed > 0, not {speed!r}")
    first = trace.rows[0].timestamp_ms
    units: list[tuple[str | None, list[PlannedRow]]] = []
    conversations: dict[str, list[PlannedRow]] = {}
    for row in trace.rows:
        planned = PlannedRow((row.timestamp_ms - first) / 1000.0 / speed, row.input_tokens, row.output_tokens, row.line)
        key = row.conversation_id
        if key is None:
            units.append((None, [planned]))
        elif key in conversations:
            conversations[key].append(planned)
        else:
            conversations[key] = [planned]
            units.append((key, conversations[key]))
    return tuple(Unit(key, tuple(rows)) for key, rows in units)


def shard(items: Sequence[_T], index: int, count: int) -> list[_T]:
    """The items of process `index` of `count`: every count-th from the index-th."""
    if not 0 <= index < count:
        raise ValueError(f"process {index} of {count}")
    return list(items[index::count])
