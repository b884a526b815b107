"""`rtbench.workflow.sweep`'s pure parts: the loads, the knee and the throughput of a step's bundle
(whole sweeps against the reference server: tests/rtbench/cli/test_sweep.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rtbench.errors import ConfigError
from rtbench.workflow.sweep import (
    SweepRequest,
    find_knee,
    knee_line,
    parse_loads,
    server_queue_from,
    step_throughput,
    sweep,
)


def test_loads_are_a_list_in_increasing_order() -> None:
    assert parse_loads("1,2,4,8", "--users", integers=True) == (1, 2, 4, 8)
    assert parse_loads("0.5,2", "--rate", integers=False) == (0.5, 2.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"users": "1,x"}, "--users: expected a comma-separated list of positive integers, e.g. 1,2,4,8, got '1,x'"),
        ({"users": "1,0"}, "--users: expected a comma-separated list of positive integers, e.g. 1,2,4,8, got '1,0'"),
        ({"users": "4,2"}, "--users: expected loads in increasing order, each once, got '4,2'"),
        ({"users": "1,2", "rate": "1"}, "sweep: give one of --users or --rate, e.g. --users 1,2,4,8"),
        ({}, "sweep: give one of --users or --rate, e.g. --users 1,2,4,8"),
        (
            {"rate": "1,2,abc"},
            "--rate: expected a comma-separated list of positive numbers, e.g. 1,2,4,8, got '1,2,abc'",
        ),
        ({"users": "1,2", "requests": 0}, "--requests: expected a positive integer, got 0"),
        ({"users": "1", "duration": "soon"}, "--duration: expected a duration such as 30s, 500ms or 2m, got 'soon'"),
        ({"rate": "1", "arrival": "closed"}, "--arrival: expected constant or poisson, got 'closed'"),
    ],
)
def test_bad_sweeps_are_one_line_before_any_step(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('[scenario]\nname = "s"\n')
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        sweep(SweepRequest(scenario, out=out, **changes))
    assert str(info.value) == message and not out.exists()


def _step(load: float, rps: float, ttft: float) -> dict[str, Any]:
    return {"load": load, "requests_per_s": rps, "ttft_p50": ttft}


def test_the_knee_is_the_last_step_before_throughput_stops_growing_while_ttft_grows() -> None:
    assert find_knee([_step(1, 9, 20), _step(2, 18, 21), _step(4, 18.5, 130), _step(8, 18.4, 350)]) == 2
    # throughput still growing by 10 % or more: no knee yet
    assert find_knee([_step(1, 10, 20), _step(2, 11, 40)]) is None
    # flat throughput but TTFT flat too (the client, not the target, is the limit): no knee
    assert find_knee([_step(1, 10, 20), _step(2, 10.2, 21)]) is None
    # steps in any order, a step without figures skipped
    assert find_knee([_step(8, 30, 400), _step(4, 29, 100), _step(2, 20, 30)]) == 4
    assert find_knee([{"load": 1, "requests_per_s": None, "ttft_p50": None}, _step(2, 5, 20)]) is None


def test_the_knee_line() -> None:
    assert knee_line(2, "users", None).startswith("knee: 2 users (throughput grows less than 10% beyond it")
    assert knee_line(2.5, "rate", None).startswith("knee: 2.5 turns/s")
    assert knee_line(None, "users", "interrupted").endswith("; sweep stopped early: interrupted")


def test_throughput_is_read_from_the_summary_section_when_there_is_one(tmp_path: Path) -> None:
    summary = {"throughput": {"requests_per_s": 12.5, "output_tokens_per_s": 250.0}}
    assert step_throughput(summary, tmp_path) == (12.5, 250.0)


def test_throughput_from_the_time_series_covers_the_reported_seconds(tmp_path: Path) -> None:
    """Steady seconds only (as the latencies), or every second of the run with include_ramp."""
    (tmp_path / "timeseries.csv").write_text(
        "time,second,phase,turns_completed,tokens\n"
        "100,0,ramp,4,40\n"
        "101,1,steady,10,100\n"
        "102,2,steady,12,120\n"
        "103,3,stop,2,20\n"
    )
    assert step_throughput({"include_ramp": False}, tmp_path) == (11.0, 110.0)
    every = {"include_ramp": True, "started_at": 100.0, "ended_at": 104.0}
    assert step_throughput(every, tmp_path) == (7.0, 70.0)
    assert step_throughput({}, tmp_path / "none") == (None, None)


def test_the_server_queue_starts_at_the_first_step_whose_target_showed_requests_waiting() -> None:
    """llama-server -np 4 on two cores: throughput stops growing at 2 users, its queue at 8."""
    steps = [
        {"load": 8, "server_waiting_max": 4},
        {"load": 1, "server_waiting_max": 0},
        {"load": 4, "server_waiting_max": 0},
        {"load": 2, "server_waiting_max": None},
    ]
    assert server_queue_from(steps) == 8.0
    assert server_queue_from([{"load": 1}, {"load": 2, "server_waiting_max": 0}]) is None
