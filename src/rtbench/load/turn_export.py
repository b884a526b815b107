"""`--export-turns`: one row per turn that ended (completed, failed or cancelled), for turns.jsonl.

A row is begun when the turn is sent (`begin`: ids, planned and actual send times, the input) and
finished when it ends (`completed`, `failed`, `cancelled`); finished rows wait in `rows` until the
process ships them with its per-second report (`take`), so they reach the bundle within a second
or two of the turn's end, and a Ctrl-C or a crash loses none that ended before the last shipment.
"""

from __future__ import annotations

import os
import time
from time import perf_counter
from typing import TYPE_CHECKING, Any

from rtbench.metrics.turn import TurnResult

if TYPE_CHECKING:
    from rtbench.load.turn_in_flight import TurnInFlight

__all__ = ["TurnExport", "TURN_FIELDS", "CONTENT_FIELDS", "STATUSES", "wall_time"]

#: The fields of every row, in order (SCHEMA.md, turns.jsonl).
TURN_FIELDS: tuple[str, ...] = (
    *("turn_id", "user", "worker", "conversation", "turn", "planned_at", "sent_at", "ttft_ms", "e2e_ms"),
    *("input_tokens", "output_tokens", "status", "failure_kind", "failure_reason"),
)
#: The fields added with --export-content.
CONTENT_FIELDS: tuple[str, ...] = ("prompt", "response")
#: How a turn ended.
STATUSES: tuple[str, ...] = ("completed", "failed", "cancelled")


def wall_time(moment: float) -> float:
    """The wall-clock time (epoch seconds) of a `perf_counter()` reading."""
    return time.time() - (perf_counter() - moment)


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000.0, 3)


class TurnExport:
    """The rows of one load process's ended turns, until they are shipped."""

    __slots__ = ("worker", "content", "rows")

    def __init__(self, content: bool = False, worker: str | None = None) -> None:
        #: The load process, as rows name it ("<pid>" of the process that ran the turn).
        self.worker = worker or str(os.getpid())
        #: Rows carry the prompt and the response's text (--export-content).
        self.content = content
        self.rows: list[dict[str, Any]] = []

    def begin(
        self,
        turn: TurnInFlight,
        user: str,
        conversation: int | None,
        index: int,
        planned: float | None,
        prompt: str,
    ) -> None:
        """Start `turn`'s row as it is sent: `planned` is its planned send time (open loop,
        `perf_counter()`), None when it is sent at once."""
        sent_wall = time.time()
        row: dict[str, Any] = dict.fromkeys(TURN_FIELDS)
        row.update(
            turn_id=turn.turn_id,
            user=user,
            worker=self.worker,
            conversation=conversation,
            turn=index,
            planned_at=round(wall_time(planned), 6) if planned is not None else None,
            sent_at=round(sent_wall, 6),
            input_tokens=turn.input_tokens or None,
        )
        if self.content:
            row["prompt"], row["response"] = prompt, None
            turn.texts = []
        turn.row = row

    def _end(self, turn: TurnInFlight, status: str) -> dict[str, Any] | None:
        row, turn.row = turn.row, None  # each turn's row is shipped once
        if row is None:
            return None
        row["status"] = status
        row["input_tokens"] = row["input_tokens"] or turn.input_tokens or None
        row["ttft_ms"] = _ms(turn.timer.first_token_us)
        row["output_tokens"] = turn.timer.tokens_seen if turn.first_token_seen else 0
        if self.content and turn.texts is not None:
            row["response"] = "".join(turn.texts)
        self.rows.append(row)
        return row

    def completed(self, turn: TurnInFlight, result: TurnResult) -> None:
        row = self._end(turn, "completed")
        if row is not None:
            row.update(
                ttft_ms=_ms(result.ttft_us),
                e2e_ms=_ms(result.e2e_us),
                input_tokens=result.input_tokens or None,
                output_tokens=result.output_tokens,
            )

    def failed(self, turn: TurnInFlight, kind: str, reason: str) -> None:
        row = self._end(turn, "failed")
        if row is not None:
            row.update(failure_kind=kind, failure_reason=reason)

    def cancelled(self, turn: object) -> None:
        """`turn` (an open turn at the stop) ended as cancelled; turns without a row are skipped."""
        if getattr(turn, "row", None) is not None:
            self._end(turn, "cancelled")  # type: ignore[arg-type]

    def take(self) -> list[dict[str, Any]]:
        """Remove and return the rows of the turns ended since the last call."""
        rows, self.rows = self.rows, []
        return rows
