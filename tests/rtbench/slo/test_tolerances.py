"""Regression tolerances: defaults, per metric, off, and the command line's overrides."""

from __future__ import annotations

import pytest

from rtbench.errors import ConfigError
from rtbench.slo.tolerances import Tolerances, from_options, parse_floor, parse_tolerance, with_overrides


def test_defaults_leave_client_lag_out() -> None:
    tolerances = Tolerances()
    assert (tolerances.default, tolerances.floor_ms) == (0.10, 1.0)
    assert tolerances.for_metric("ttft") == 0.10
    assert tolerances.for_metric("client_lag") is None
    assert tolerances.compared(["e2e", "client_lag", "ttft", "zzz_new", "connect"]) == [
        "connect",
        "ttft",
        "e2e",
        "zzz_new",
    ]


def test_per_metric_values_and_off() -> None:
    tolerances = Tolerances(0.2, 1.0, (("ttft", 0.05), ("connect", None), ("client_lag", 0.5)))
    assert tolerances.for_metric("ttft") == 0.05
    assert tolerances.for_metric("itl") == 0.2
    assert tolerances.compared(["ttft", "connect", "client_lag"]) == ["ttft", "client_lag"]


def test_parse_tolerance_and_floor() -> None:
    assert parse_tolerance("5%") == 0.05
    assert parse_tolerance("150%") == 1.5
    assert parse_tolerance(" OFF ") is None
    assert parse_floor("2ms") == 2.0
    assert parse_floor("0.5s") == 500.0
    for bad in ("5", 5, "fast"):
        with pytest.raises(ValueError, match="a percentage such as 10%, or off"):
            parse_tolerance(bad)
    with pytest.raises(ValueError, match="a duration"):
        parse_floor(1)


def test_overrides_keep_what_they_do_not_change() -> None:
    base = Tolerances(0.2, 3.0, (("ttft", 0.05), ("itl", 0.3)))
    merged = with_overrides(base, per_metric=[("ttft", 0.01)])
    assert merged == Tolerances(0.2, 3.0, (("ttft", 0.01), ("itl", 0.3)))


def test_command_line_options() -> None:
    base = Tolerances(0.2, 3.0, (("itl", 0.3),))
    tolerances = from_options(base, ["15%", "ttft=5%", "e2e = off"], "2ms")
    assert tolerances == Tolerances(0.15, 2.0, (("itl", 0.3), ("ttft", 0.05), ("e2e", None)))
    assert from_options(base) == base


@pytest.mark.parametrize(
    ("values", "floor", "message"),
    [
        (["ten"], None, "--max-regression: 'ten': expected a percentage such as 10%, or off"),
        (["off"], None, "--max-regression: 'off': expected a percentage such as 10% (or metric=off"),
        (["latency=5%"], None, "--max-regression: 'latency=5%': expected a latency metric (connect, ttft"),
        ([], "soon", "--regression-floor: 'soon': expected a duration such as 100ms"),
    ],
)
def test_bad_options_are_one_line_config_errors(values: list[str], floor: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_options(Tolerances(), values, floor)
    assert str(info.value).startswith(message)
