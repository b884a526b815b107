from __future__ import annotations

import pytest

from rtbench.faults import FaultPlan, parse_faults, server_flags
from rtbench.scenario import parse_duration


def test_server_table_becomes_flags() -> None:
    table = {"ttft_ms": 50, "procs": 2, "deflate": False, "persona": ["a:ttft=1", "b:ttft=2"], "loop": "asyncio"}
    assert server_flags(table) == (
        "--ttft-ms",
        "50",
        "--procs",
        "2",
        "--no-deflate",
        "--persona",
        "a:ttft=1",
        "--persona",
        "b:ttft=2",
        "--loop",
        "asyncio",
    )
    with pytest.raises(ValueError, match="x: expected a number"):
        server_flags({"x": {"a": 1}})


def test_faults_become_server_flags_and_a_kill_schedule() -> None:
    plan = parse_faults(
        {
            "drop_rate": 0.1,
            "drop_after": "5s..20s",
            "stall_ms": 200,
            "stall_every": "10s",
            "error_rate": 0.01,
            "kill_after": "10s",
            "restart_after": "3s",
        },
        parse_duration,
    )
    assert plan == FaultPlan(
        (
            "--drop-rate",
            "0.1",
            "--drop-after-s",
            "5:20",
            "--stall-ms",
            "200",
            "--stall-every-s",
            "10",
            "--error-rate",
            "0.01",
        ),
        10.0,
        3.0,
    )
    assert parse_faults({}, parse_duration) == FaultPlan()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"drop_rate": 2}, "drop_rate: expected a number from 0 to 1"),
        ({"drop_after": "soon"}, "drop_after: expected a duration or range"),
        ({"explode": 1}, "explode: unknown fault"),
        ({"restart_after": "1s"}, "restart_after: expected kill_after too"),
        ({"kill_after": "later"}, "kill_after: expected a duration"),
    ],
)
def test_bad_faults(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_faults(table, parse_duration)
