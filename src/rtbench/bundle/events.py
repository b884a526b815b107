"""`events.jsonl`: what happened to the run and when (a worker or the target crashing, Ctrl-C).

One JSON object per line, `{"t": epoch seconds, "kind": ..., "detail": ...}`, appended and
fsynced as each event happens, so a run killed afterwards still has it. summary.json repeats
the list as `events`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rtbench.bundle.files import AppendFile
from rtbench.errors import BundleError

__all__ = ["EVENT_KINDS", "RunEvent", "EventLog", "read_events", "events_from_summary"]

#: Event kinds rtbench records, with the line the report states for each.
EVENT_KINDS: dict[str, str] = {
    "worker_crash": "a load worker process exited before the run asked it to",
    "worker_lost": "a load worker sent no heartbeat for seconds; its users went to the others",
    "target_crash": "the target process exited (watched through --target-pid)",
    "target_down": "no session was up and every connection attempt failed for [target] down_after",
    "aborted": "an --abort-on SLO rule was breached over the run so far: the run stopped early",
    "interrupted": "the run was interrupted (Ctrl-C or SIGTERM)",
    "bundle_write_failed": "a bundle file could not be written (a full disk): the run stopped",
}


@dataclass(frozen=True)
class RunEvent:
    """One event: `t` when rtbench saw it (epoch seconds), `kind` (EVENT_KINDS or another
    name), `detail` one plain line."""

    t: float
    kind: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunEvent:
        """Raises ValueError when `data` is not an event object."""
        t, kind, detail = data.get("t"), data.get("kind"), data.get("detail", "")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not isinstance(kind, str):
            raise ValueError(f"not an event: {dict(data)!r}")
        return cls(float(t), kind, str(detail))


class EventLog(AppendFile):
    """Appends events to a JSON-lines file, each one flushed and fsynced at once."""

    def write(self, event: RunEvent) -> None:
        self._file.write(json.dumps(event.to_dict()) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())


def read_events(path: str | Path) -> list[RunEvent]:
    """The events of `path` in time order; [] when there is no such file. A last line cut short
    by a killed run is dropped; any other bad line raises BundleError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read events {path}: {exc}") from exc
    complete = text.split("\n")[:-1]  # what follows the last newline was cut short, or is ""
    events = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            events.append(RunEvent.from_dict(json.loads(line)))
        except (ValueError, AttributeError) as exc:
            raise BundleError(f"malformed event on line {number} of {path}: {exc}") from None
    return sorted(events, key=lambda e: e.t)


def events_from_summary(summary: Mapping[str, Any]) -> list[RunEvent]:
    """summary.json's `events`, the malformed entries skipped, in time order."""
    found = []
    for item in summary.get("events") or ():
        if isinstance(item, Mapping):
            try:
                found.append(RunEvent.from_dict(item))
            except ValueError:
                continue
    return sorted(found, key=lambda e: e.t)
