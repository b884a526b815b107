"""TurnExport's rows, from turns in flight made by hand: fields, statuses, and each row shipped once."""

from __future__ import annotations

import time
from time import perf_counter

import pytest

from rtbench.load.turn_export import CONTENT_FIELDS, TURN_FIELDS, TurnExport
from rtbench.load.turn_in_flight import TurnInFlight


def _turn(turn_id: str = "u1-1") -> TurnInFlight:
    return TurnInFlight(turn_id, perf_counter(), None, None)


def test_a_completed_turn_has_every_field_and_its_figures() -> None:
    export = TurnExport(worker="w1")
    turn = _turn()
    planned = perf_counter() - 0.5
    export.begin(turn, "u1", None, 1, planned, "hello there")
    turn.timer.on_content(turn.timer.sent_at + 0.02, 1)
    turn.first_token_seen = True
    export.completed(turn, turn.timer.finish(turn.timer.sent_at + 0.05, 3, 2))
    (row,) = export.take()
    assert list(row) == list(TURN_FIELDS)
    assert row["status"] == "completed" and row["failure_kind"] is None
    assert row["ttft_ms"] == pytest.approx(20.0, abs=0.01) and row["e2e_ms"] == pytest.approx(50.0, abs=0.01)
    assert (row["input_tokens"], row["output_tokens"]) == (2, 3)
    assert row["sent_at"] == pytest.approx(time.time(), abs=1.0)
    assert row["planned_at"] == pytest.approx(row["sent_at"] - 0.5, abs=0.05)
    assert export.take() == []  # shipped once


def test_failed_and_cancelled_turns_keep_what_arrived() -> None:
    export = TurnExport(content=True, worker="w1")
    failed, cancelled, never_begun = _turn("u1-1"), _turn("u1-2"), _turn("u1-3")
    export.begin(failed, "u1", 2, 4, None, "hi")
    export.begin(cancelled, "u1", 2, 5, None, "there")
    failed.timer.on_content(failed.timer.sent_at + 0.01, 2)
    failed.first_token_seen = True
    failed.texts.append("tok0 tok1 ")  # type: ignore[union-attr]
    export.failed(failed, "incomplete", "closed_by_peer")
    export.cancelled(cancelled)
    export.cancelled(cancelled)  # a second end adds nothing
    export.cancelled(never_begun)
    first, second = export.take()
    assert list(first) == [*TURN_FIELDS, *CONTENT_FIELDS]
    assert (first["status"], first["failure_kind"], first["failure_reason"]) == (
        "failed",
        "incomplete",
        "closed_by_peer",
    )
    assert first["e2e_ms"] is None and first["output_tokens"] == 2 and first["response"] == "tok0 tok1 "
    assert (first["conversation"], first["turn"], first["prompt"]) == (2, 4, "hi")
    assert second["status"] == "cancelled" and second["ttft_ms"] is None and second["output_tokens"] == 0
