from __future__ import annotations

from pathlib import Path

import pytest

from rtbench.scenario import load_scenario, parse_duration
from rtbench.shape import Stage, parse_shape

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def shape(**table: object):
    return parse_shape(table, 10.0, parse_duration)


def test_step() -> None:
    spec = shape(kind="step", start_users=5, step_users=5, step_every="4s", steps=3)
    assert [spec.at(t) for t in (0, 3.9, 4, 11.9)] == [(5, 10.0), (5, 10.0), (10, 10.0), (15, 10.0)]
    assert spec.at(12) is None and spec.duration == 12 and spec.peak_users == 15


def test_ramp_rises_each_second_then_holds() -> None:
    spec = shape(kind="ramp", from_users=10, to_users=50, over="4s", hold="6s")
    assert [spec.at(t)[0] for t in (0, 1, 2, 3, 4, 9.9)] == [10, 20, 30, 40, 50, 50]
    assert spec.at(0)[1] == 10.0 and spec.duration == 10


def test_spike_and_soak_and_stages() -> None:
    spike = shape(kind="spike", users=10, spike_users=100, spike_at="5s", spike_for="2s", duration="10s", spawn_rate=90)
    assert [spike.at(t) for t in (4, 5, 6.9, 7)] == [(10, 90.0), (100, 90.0), (100, 90.0), (10, 90.0)]
    assert shape(kind="soak", users=7, duration="1h").stages == (Stage(3600.0, 7, 10.0),)
    stages = shape(
        kind="stages", stages=[{"duration": "2s", "users": 3}, {"duration": "1s", "users": 9, "spawn_rate": 1}]
    )
    assert stages.stages == (Stage(2.0, 3, 10.0), Stage(3.0, 9, 1.0))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"kind": "wave"}, "kind: expected one of"),
        (
            {"kind": "step", "start_users": 0, "step_users": 1, "step_every": "1s", "steps": 1},
            "start_users: expected a positive integer",
        ),
        ({"kind": "soak", "users": 5, "duration": "soon"}, "duration: expected a duration"),
        ({"kind": "soak", "users": 5, "duration": "1s", "extra": 1}, "extra: unknown key for a soak shape"),
        (
            {"kind": "spike", "users": 1, "spike_users": 2, "spike_at": "9s", "spike_for": "2s", "duration": "10s"},
            "spike_at: expected",
        ),
        ({"kind": "stages", "stages": []}, "stages: expected a list"),
    ],
)
def test_bad_shapes(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_shape(table, 10.0, parse_duration)


@pytest.mark.parametrize("name", ["shape-ramp", "shape-step", "shape-spike", "shape-soak"])
def test_shipped_shape_scenarios_load(name: str) -> None:
    config = load_scenario(SCENARIOS / f"{name}.toml")
    assert config.shape.table and config.load.users >= 100 and config.load.duration >= 120
