from __future__ import annotations

from pathlib import Path

import pytest

from rtbench.config import parse_duration
from rtbench.errors import ConfigError
from rtbench.scenario import load_scenario
from rtbench.shape import Stage, compile_shape

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def shape(**table: object):
    return compile_shape(table, 10.0, parse_duration)


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
        ({"kind": "soak", "users": 5, "duration": "1s", "spawn_rate": 0}, "spawn_rate: expected a positive number"),
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
    with pytest.raises(ConfigError) as caught:
        compile_shape(table, 10.0, parse_duration, "s.toml: [shape]")
    assert str(caught.value).startswith(f"s.toml: [shape].{message}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["shape-ramp", "shape-step", "shape-spike", "shape-soak"])
def test_shipped_shape_scenarios_load(name: str) -> None:
    config = load_scenario(SCENARIOS / f"{name}.toml")
    assert config.shape.table and config.load.users >= 100 and config.load.duration >= 120


def test_a_bad_shape_in_a_scenario_names_the_file_and_key(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('[target]\nurl = "ws://127.0.0.1:1/ws"\n[shape]\nkind = "soak"\nusers = 0\nduration = "1s"\n')
    with pytest.raises(ConfigError, match=r"s.toml: \[shape\].users: expected a positive integer, got 0$"):
        load_scenario(scenario)


def test_a_scenario_takes_its_users_and_duration_from_the_shape(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    table = '[shape]\nkind = "step"\nstart_users = 2\nstep_users = 3\nstep_every = "5s"\nsteps = 4\n'
    scenario.write_text('[target]\nurl = "ws://127.0.0.1:1/ws"\n' + table)
    config = load_scenario(scenario)
    assert (config.load.users, config.load.duration) == (11, 20.0)
    assert compile_shape(config.shape.table, config.load.spawn_rate, parse_duration).peak_users == 11
