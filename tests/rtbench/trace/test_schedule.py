"""Planning a trace: offsets compressed by speed, conversations as one unit, an exact split."""

from __future__ import annotations

import pytest

from rtbench.trace.replay import Trace, TraceRow
from rtbench.trace.schedule import plan_units, shard

TRACE = Trace(
    "t.jsonl",
    (
        TraceRow(1, 1000.0, 5, 3, "a"),
        TraceRow(2, 1200.0, 6, 4),
        TraceRow(3, 1500.0, 7, 5, "b"),
        TraceRow(4, 1800.0, 8, 6, "a"),
        TraceRow(5, 2500.0, 9, 7, "b"),
        TraceRow(6, 3000.0, 2, 2),
    ),
)


def test_rows_are_planned_from_the_first_row_and_speed_compresses_them() -> None:
    at_1 = [row.offset_s for unit in plan_units(TRACE, 1.0) for row in unit.rows]
    at_2 = [row.offset_s for unit in plan_units(TRACE, 2.0) for row in unit.rows]
    assert sorted(at_1) == pytest.approx([0.0, 0.2, 0.5, 0.8, 1.5, 2.0])
    assert sorted(at_2) == pytest.approx([t / 2 for t in sorted(at_1)])
    with pytest.raises(ValueError):
        plan_units(TRACE, 0.0)


def test_a_conversation_is_one_unit_in_order_and_units_go_by_their_first_row() -> None:
    units = plan_units(TRACE, 1.0)
    assert [(u.conversation_id, [r.line for r in u.rows]) for u in units] == [
        ("a", [1, 4]),
        (None, [2]),
        ("b", [3, 5]),
        (None, [6]),
    ]
    assert [u.start_s for u in units] == sorted(u.start_s for u in units)


@pytest.mark.parametrize("processes", [1, 2, 3, 5])
def test_every_row_goes_to_exactly_one_process_and_a_conversation_to_one(processes: int) -> None:
    units = plan_units(TRACE, 1.0)
    shares = [shard(units, index, processes) for index in range(processes)]
    lines = sorted(row.line for share in shares for unit in share for row in unit.rows)
    assert lines == [1, 2, 3, 4, 5, 6]
    for key in ("a", "b"):
        assert sum(any(u.conversation_id == key for u in share) for share in shares) == 1
    with pytest.raises(ValueError):
        shard(units, processes, processes)
